import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Priority } from '@commstrat/core';
import { Batcher, type Work } from './batcher.ts';
import type { ProviderHandle } from './provider-registry.ts';

const provider = (maxBatchSize: number, lingerMs: number, adapter: object = {}): ProviderHandle =>
  ({ key: 't/p', config: { maxBatchSize, lingerMs }, adapter }) as unknown as ProviderHandle;

const work = (handle: ProviderHandle, lane: Priority = 'normal', id = Math.random().toString(36), text = 'hi'): Work =>
  ({ provider: handle, entry: { lane, entryId: id, message: { id, content: { text } } } }) as unknown as Work;

test('messages the adapter keys apart (one text per request) never share a batch, also when put back', () => {
  const handle = provider(10, 0, { batchKey: (message: { content: { text: string } }) => message.content.text });
  const batcher = new Batcher();
  batcher.add(work(handle, 'normal', 'a', 'sale'), 0);
  batcher.add(work(handle, 'normal', 'b', 'code 1'), 0);
  batcher.add(work(handle, 'normal', 'c', 'sale'), 0);
  const ready = batcher.takeReady(1);
  assert.deepEqual(ready.map((batch) => batch.works.map((w) => w.entry.message.id)).sort(), [['a', 'c'], ['b']]);
  batcher.putBack(handle, ready[0]!.works, 0, 1);
  batcher.add(work(handle, 'normal', 'd', ready[0]!.works[0]!.entry.message.content.text ?? ''), 1);
  assert.deepEqual(batcher.takeReady(2).map((batch) => batch.works.length), [ready[0]!.works.length + 1]);
});

test('a batch leaves as soon as it is full, in pieces of the max batch size', () => {
  const handle = provider(3, 1000);
  const batcher = new Batcher();
  for (let i = 0; i < 7; i++) batcher.add(work(handle), 0);
  const ready = batcher.takeReady(1);
  assert.deepEqual(ready.map((batch) => batch.works.length), [3, 3]);
  assert.equal(batcher.size, 1);
});

test('a part-full batch waits for the linger, then leaves', () => {
  const handle = provider(10, 50);
  const batcher = new Batcher();
  batcher.add(work(handle), 100);
  batcher.add(work(handle), 120);
  assert.deepEqual(batcher.takeReady(149), []);
  assert.equal(batcher.nextDeadline(), 150);
  assert.deepEqual(batcher.takeReady(150).map((batch) => batch.works.length), [2]);
  assert.equal(batcher.size, 0);
});

test('critical messages never linger and never share a batch with other lanes', () => {
  const handle = provider(10, 1000);
  const batcher = new Batcher();
  batcher.add(work(handle, 'bulk'), 0);
  batcher.add(work(handle, 'critical'), 0);
  const ready = batcher.takeReady(1);
  assert.deepEqual(ready.map((batch) => batch.works.map((w) => w.entry.lane)), [['critical']]);
});

test('messages put back by the rate limiter wait until their time, ahead of newer ones', () => {
  const handle = provider(10, 0);
  const batcher = new Batcher();
  const first = work(handle, 'normal', 'first');
  batcher.putBack(handle, [first], 500, 100);
  batcher.add(work(handle, 'normal', 'second'), 200);
  assert.deepEqual(batcher.takeReady(499), []);
  const [batch] = batcher.takeReady(500);
  assert.deepEqual(batch?.works.map((w) => w.entry.entryId), ['first', 'second']);
});

test('shutdown skips the linger but not the provider rate', () => {
  const handle = provider(10, 10_000);
  const batcher = new Batcher();
  batcher.add(work(handle), 0);
  assert.equal(batcher.takeReady(1, true).length, 1);
  batcher.putBack(handle, [work(handle)], 5000, 1);
  assert.equal(batcher.takeReady(2, true).length, 0);
});

test('non-critical batches leave only as far as the provider has free slots; critical ones always', () => {
  const handle = provider(2, 0);
  const batcher = new Batcher();
  for (let i = 0; i < 6; i++) batcher.add(work(handle, 'bulk'), 0);
  batcher.add(work(handle, 'critical'), 0);
  const ready = batcher.takeReady(1, false, () => 1);
  assert.deepEqual(ready.map((batch) => [batch.works[0]?.entry.lane, batch.works.length]), [
    ['bulk', 2],
    ['critical', 1],
  ]);
  assert.equal(batcher.size, 4);
  assert.deepEqual(batcher.takeReady(2, false, () => 0), []);
  assert.equal(batcher.takeReady(3, false, () => 5).length, 2);
});

test('while the critical slot is taken, critical messages wait together and leave as one batch when it frees', () => {
  const handle = provider(100, 0);
  const batcher = new Batcher();
  batcher.add(work(handle, 'critical', 'c1'), 0);
  assert.equal(batcher.takeReady(0, false, () => 1, () => 1).length, 1, 'a free slot: at once');
  for (const id of ['c2', 'c3', 'c4']) batcher.add(work(handle, 'critical', id), 1);
  assert.deepEqual(batcher.takeReady(2, false, () => 1, () => 0), [], 'the slot is taken: they wait');
  const [next] = batcher.takeReady(3, false, () => 1, () => 1);
  assert.deepEqual(next?.works.map((w) => w.entry.message.id), ['c2', 'c3', 'c4']);
});

test('a batch waiting for a request slot has no deadline: the freed slot starts it, and the claim loop must not poll for it', () => {
  const busy = provider(10, 50);
  const idle = { ...provider(10, 80), key: 't/idle' } as ProviderHandle;
  const batcher = new Batcher();
  batcher.add(work(busy), 100);
  const noRoomAtBusy = (handle: ProviderHandle) => (handle.key === busy.key ? 0 : 1);
  assert.equal(batcher.nextDeadline(noRoomAtBusy), undefined, 'the only batch waits for a slot');
  assert.equal(batcher.nextDeadline(), 150);
  batcher.add(work(idle), 100);
  assert.equal(batcher.nextDeadline(noRoomAtBusy), 180, "the other provider's batch still counts");
  batcher.add(work(busy, 'critical'), 100);
  assert.equal(batcher.nextDeadline(noRoomAtBusy, () => 0), 180, 'critical batches count their own slots');
  assert.equal(batcher.nextDeadline(noRoomAtBusy, () => 1), 0, 'a critical batch with a slot is due at once');
});
