import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ValidationError } from './errors.ts';
import { checkReceiptSignature, parseReceipts, signReceiptBody } from './receipts.ts';

const now = new Date('2026-12-02T10:00:00Z');

test('a signed receipt body checks out within the window, and fails when anything differs', () => {
  const body = '{"receipts":[{"provider_message_id":"p1","status":"delivered"}]}';
  const header = signReceiptBody('s3cret', body, now);
  assert.equal(checkReceiptSignature('s3cret', header, body, now, 300), undefined);
  assert.equal(checkReceiptSignature('s3cret', header, body, new Date(now.getTime() + 299_000), 300), undefined);
  assert.equal(checkReceiptSignature('s3cret', header, body, new Date(now.getTime() + 301_000), 300), 'stale');
  assert.equal(checkReceiptSignature('other', header, body, now, 300), 'mismatch');
  assert.equal(checkReceiptSignature('s3cret', header, body.replace('delivered', 'undelivered'), now, 300), 'mismatch');
  // A fresh timestamp on an old signature does not help: the timestamp is signed.
  const forged = header.replace(/^t=\d+/, `t=${Math.floor(now.getTime() / 1000) + 600}`);
  assert.equal(checkReceiptSignature('s3cret', forged, body, new Date(now.getTime() + 600_000), 300), 'mismatch');
  assert.equal(checkReceiptSignature('s3cret', undefined, body, now, 300), 'missing');
  assert.equal(checkReceiptSignature('s3cret', 'sha256=abc', body, now, 300), 'malformed');
});

test('a signature has one spelling: leading zeros, upper-case hex or padding are malformed, so no respelling passes as unseen', () => {
  const body = '{"receipts":[{"provider_message_id":"p1","status":"delivered"}]}';
  const header = signReceiptBody('s3cret', body, now);
  const t = /^t=(\d+)/.exec(header)?.[1] ?? '';
  const v1 = header.slice(header.indexOf('v1=') + 3);
  for (const respelt of [`t=0${t},v1=${v1}`, `t=00${t},v1=${v1}`, `t=${t},v1=${v1.toUpperCase()}`, ` t=${t},v1=${v1}`, `t=${t},v1=${v1} `, `t=+${t},v1=${v1}`, `t=${t}.0,v1=${v1}`]) {
    assert.equal(checkReceiptSignature('s3cret', respelt, body, now, 300), 'malformed', respelt);
  }
  assert.equal(checkReceiptSignature('s3cret', header, body, now, 300), undefined);
  assert.equal(checkReceiptSignature('s3cret', 't=0,v1=' + v1, body, now, 300), 'mismatch', 't=0 itself is a spelling, signed or not');
});

test('receipts are validated with the path of each bad field', () => {
  assert.deepEqual(parseReceipts({ receipts: [{ provider_message_id: 'p1', status: 'delivered' }] }), [
    { provider_message_id: 'p1', status: 'delivered' },
  ]);
  assert.throws(
    () => parseReceipts({ receipts: [{ provider_message_id: 'p1', status: 'read' }, { status: 'delivered' }] }),
    (error: unknown) =>
      error instanceof ValidationError &&
      error.problems.some((p) => p.path === '/receipts/0/status') &&
      error.problems.some((p) => p.path === '/receipts/1/provider_message_id'),
  );
  assert.throws(() => parseReceipts({ receipts: [] }), ValidationError);
});
