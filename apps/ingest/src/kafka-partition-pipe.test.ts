import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PartitionPipe } from './kafka-partition-pipe.ts';

const tick = () => new Promise((resolve) => setImmediate(resolve));

/** A pipe whose commits are recorded (and held, when `hold` is set) and whose records finish by hand. */
function pipeUnderTest(limit = 16, hold = false) {
  const commits: string[] = [];
  const errors: unknown[] = [];
  const pendingCommits: PromiseWithResolvers<void>[] = [];
  let inFlightCommits = 0;
  let mostCommitsAtOnce = 0;
  const pipe = new PartitionPipe({
    limit,
    commit: (offset) => {
      commits.push(offset);
      inFlightCommits += 1;
      mostCommitsAtOnce = Math.max(mostCommitsAtOnce, inFlightCommits);
      const done = Promise.withResolvers<void>();
      if (hold) pendingCommits.push(done);
      else done.resolve();
      return done.promise.finally(() => (inFlightCommits -= 1));
    },
    onError: (error) => errors.push(error),
  });
  const records = new Map<string, PromiseWithResolvers<boolean>>();
  const start = (...offsets: number[]) => {
    for (const offset of offsets) {
      const record = Promise.withResolvers<boolean>();
      records.set(String(offset), record);
      pipe.start(String(offset), () => record.promise);
    }
  };
  const finish = async (offset: number, ok = true) => {
    records.get(String(offset))?.resolve(ok);
    await tick();
  };
  return { pipe, commits, errors, pendingCommits, start, finish, mostCommitsAtOnce: () => mostCommitsAtOnce };
}

test('only the handled prefix is committed: records done after an unfinished one wait for it', async () => {
  const { commits, start, finish } = pipeUnderTest();
  start(10, 11, 12);
  await finish(11);
  await finish(12);
  assert.deepEqual(commits, [], 'nothing before offset 10 is handled');
  await finish(10);
  assert.deepEqual(commits, ['13'], 'one commit of the position after the handled prefix');
});

test('one commit at a time, and the next one is the newest position, not each step', async () => {
  const { commits, pendingCommits, start, finish, mostCommitsAtOnce } = pipeUnderTest(16, true);
  start(0, 1, 2, 3);
  await finish(0);
  assert.deepEqual(commits, ['1']);
  await finish(1);
  await finish(2);
  assert.deepEqual(commits, ['1'], 'no second commit while the first is under way');
  pendingCommits.shift()?.resolve();
  await tick();
  assert.deepEqual(commits, ['1', '3'], 'straight to the newest position');
  await finish(3);
  pendingCommits.shift()?.resolve();
  await tick();
  pendingCommits.shift()?.resolve();
  await tick();
  assert.deepEqual(commits, ['1', '3', '4']);
  assert.equal(mostCommitsAtOnce(), 1);
});

test('no record starts more than `limit` after the first unhandled one, nor while one is failing', async () => {
  const { pipe, start, finish } = pipeUnderTest(2);
  assert.equal(pipe.hasRoom(), true);
  start(0, 1);
  assert.equal(pipe.hasRoom(), false);
  await finish(1);
  assert.equal(pipe.hasRoom(), false, 'record 1 is done, but 0 is not: two from the first unhandled');
  let roomMade = false;
  const room = pipe.room().then(() => (roomMade = true));
  await tick();
  assert.equal(roomMade, false);
  await finish(0);
  await room;
  assert.equal(pipe.hasRoom(), true);

  start(2);
  pipe.failing = 1;
  assert.equal(pipe.hasRoom(), false, 'a record waiting for a dependency holds new ones back');
  pipe.failing = 0;
  assert.equal(pipe.hasRoom(), true);
});

test('a record that gives up holds back the offset at it, and settle commits what came before', async () => {
  const { pipe, commits, start, finish } = pipeUnderTest();
  start(5, 6, 7);
  await finish(5);
  await finish(7);
  await finish(6, false);
  await pipe.settle();
  assert.deepEqual(commits, ['6'], 'records 6 and 7 are redelivered after the restart');
});

test('started offsets are seen (a refetch after a rejoin skips them); later ones are not', () => {
  const { pipe, start } = pipeUnderTest();
  start(3, 4);
  assert.equal(pipe.seen('3'), true);
  assert.equal(pipe.seen('4'), true);
  assert.equal(pipe.seen('5'), false);
});

test('a revoked pipe lets its records finish but commits nothing more', async () => {
  const { pipe, commits, start, finish } = pipeUnderTest();
  start(0, 1);
  await finish(0);
  pipe.revoke();
  await finish(1);
  await pipe.settle();
  assert.deepEqual(commits, ['1']);
});

test('a failed commit is reported, and the next advance commits the newest position', async () => {
  const commits: string[] = [];
  const errors: unknown[] = [];
  let refuse = true;
  const pipe = new PartitionPipe({
    limit: 16,
    commit: (offset) => {
      commits.push(offset);
      return refuse ? Promise.reject(new Error('rebalance in progress')) : Promise.resolve();
    },
    onError: (error, during) => errors.push(`${during}: ${String(error)}`),
  });
  const first = Promise.withResolvers<boolean>();
  const second = Promise.withResolvers<boolean>();
  pipe.start('0', () => first.promise);
  pipe.start('1', () => second.promise);
  first.resolve(true);
  await tick();
  assert.deepEqual(errors, ['commit: Error: rebalance in progress']);
  refuse = false;
  second.resolve(true);
  await tick();
  assert.deepEqual(commits, ['1', '2']);
  await pipe.settle();
  assert.deepEqual(commits, ['1', '2'], 'settle has nothing left to commit');
});

test('the lag counts from the first record not handled, also when a later fetch has moved on', async () => {
  const lags: number[] = [];
  const pipe = new PartitionPipe({ limit: 16, commit: () => Promise.resolve(), onError: () => undefined, onLag: (lag) => lags.push(lag) });
  const [first, second] = [Promise.withResolvers<boolean>(), Promise.withResolvers<boolean>()];
  pipe.fetched('10', '0');
  pipe.start('0', () => first.promise);
  pipe.start('1', () => second.promise);
  // The next fetch starts at 2, but records 0 and 1 are still being handled.
  pipe.fetched('12', '2');
  second.resolve(true);
  await tick();
  first.resolve(true);
  await tick();
  // A refetch from an older committed offset (after a rejoin) counts from what is handled.
  pipe.fetched('12', '0');
  assert.deepEqual(lags, [10, 12, 10, 10]);
});
