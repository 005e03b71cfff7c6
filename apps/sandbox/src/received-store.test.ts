import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ReceivedStore, type ReceivedSms } from './received-store.ts';

const sms = (n: number): ReceivedSms => ({
  message_id: `sbx_${n}`,
  client_ref: `ref${n % 3}`,
  to: `+7916000000${n}`,
  text: 'hi',
  sender: undefined,
  received_at: n,
  request_seq: 1,
});

test('a full store drops the oldest messages first and keeps the newest in arrival order', () => {
  const store = new ReceivedStore(4);
  store.add([1, 2, 3].map(sms));
  store.add([4, 5, 6].map(sms));
  assert.equal(store.size, 4);
  assert.deepEqual(store.list({}).map((m) => m.received_at), [3, 4, 5, 6]);
  assert.deepEqual(store.latest(2).map((m) => m.received_at), [5, 6]);
  assert.deepEqual(store.latest(10).map((m) => m.received_at), [3, 4, 5, 6]);
});

test('list filters by client reference and recipient; clear empties the store', () => {
  const store = new ReceivedStore(10);
  store.add([1, 2, 3, 4, 5].map(sms));
  assert.deepEqual(store.list({ clientRef: 'ref1' }).map((m) => m.received_at), [1, 4]);
  assert.deepEqual(store.list({ to: '+79160000002' }).map((m) => m.received_at), [2]);
  store.clear();
  assert.equal(store.size, 0);
  assert.deepEqual(store.latest(5), []);
  store.add([sms(7)]);
  assert.deepEqual(store.list({}).map((m) => m.received_at), [7]);
});

test('slice pages through every kept message from the oldest, also after the ring wrapped', () => {
  const store = new ReceivedStore(5);
  store.add([1, 2, 3, 4, 5, 6, 7].map(sms));
  assert.deepEqual(store.slice(0, 2).map((m) => m.received_at), [3, 4]);
  assert.deepEqual(store.slice(2, 10).map((m) => m.received_at), [5, 6, 7]);
  assert.deepEqual(store.slice(5, 10), []);
});
