import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GroupCommit } from './group-commit.ts';

test('items added while a write is in flight go together in the next write', async () => {
  const writes: number[][] = [];
  let release: () => void = () => undefined;
  const commit = new GroupCommit<number>(async (items) => {
    writes.push([...items]);
    if (writes.length === 1) await new Promise<void>((resolve) => (release = resolve));
  });
  const first = commit.add(1);
  const rest = [commit.add(2), commit.add(3), commit.add(4)];
  release();
  await Promise.all([first, ...rest]);
  assert.deepEqual(writes, [[1], [2, 3, 4]]);
});

test('a failed write rejects its callers only; the next items are still written', async () => {
  const written: number[] = [];
  let fail = true;
  const commit = new GroupCommit<number>((items) => {
    if (fail) {
      fail = false;
      return Promise.reject(new Error('server went away'));
    }
    written.push(...items);
    return Promise.resolve();
  });
  await assert.rejects(commit.add(1), /server went away/);
  await commit.add(2);
  assert.deepEqual(written, [2]);
});

test('one write carries at most maxWeight, at least one item, and the rest follow in order', async () => {
  const writes: number[][] = [];
  let release: () => void = () => undefined;
  const commit = new GroupCommit<number>(async (items) => {
    writes.push([...items]);
    if (writes.length === 1) await new Promise<void>((resolve) => (release = resolve));
  }, { maxWeight: 5, weigh: (n) => n });
  const all = [1, 2, 3, 4, 9, 1].map((n) => commit.add(n));
  release();
  await Promise.all(all);
  assert.deepEqual(writes, [[1], [2, 3], [4], [9], [1]]);
});

test('each caller gets its own item\'s result from the write that carried it', async () => {
  const commit = new GroupCommit<number, string>((items) => Promise.resolve(items.map((n) => `seen ${n}`)));
  assert.deepEqual(await Promise.all([commit.add(1), commit.add(2)]), ['seen 1', 'seen 2']);
});

test('with two writers, a second item goes at once and only items added while both are busy wait, together', async () => {
  const writes: number[][] = [];
  const releases: (() => void)[] = [];
  const commit = new GroupCommit<number>(
    async (items) => {
      writes.push([...items]);
      if (writes.length <= 2) await new Promise<void>((resolve) => releases.push(resolve));
    },
    { writers: 2 },
  );
  const all = [commit.add(1), commit.add(2), commit.add(3), commit.add(4)];
  assert.deepEqual(writes, [[1], [2]], 'two writes in flight before either ends');
  for (const release of releases) release();
  await Promise.all(all);
  assert.deepEqual(writes, [[1], [2], [3, 4]]);
});
