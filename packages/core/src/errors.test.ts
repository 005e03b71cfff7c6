import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  CommstratError,
  ERROR_CODES,
  LanesFullError,
  NotFoundError,
  ProviderUnavailableError,
  RateLimitedError,
  UnauthorizedError,
  ValidationError,
} from './errors.ts';

test('each error class carries the status of its registry code', () => {
  for (const error of [new NotFoundError('message'), new UnauthorizedError(), new ValidationError([])]) {
    assert.ok(error instanceof CommstratError);
    assert.equal(error.httpStatus, ERROR_CODES[error.code].httpStatus);
  }
  assert.equal(new NotFoundError('message').httpStatus, 404);
});

test('the JSON body names the code and the field paths', () => {
  const body = new ValidationError([{ path: '/recipient/phone', message: 'is required' }]).toJSON();
  assert.deepEqual(body, {
    error: {
      code: 'validation_failed',
      message: '/recipient/phone: is required',
      problems: [{ path: '/recipient/phone', message: 'is required' }],
    },
  });
});

test('every registry entry has a 4xx or 5xx status', () => {
  for (const [code, entry] of Object.entries(ERROR_CODES)) {
    assert.ok(entry.httpStatus >= 400 && entry.httpStatus < 600, code);
  }
});

test('how long to wait is a field of every error, set by those that know it', () => {
  assert.equal(new RateLimitedError('slow down', 3).retryAfterSeconds, 3);
  assert.equal(new LanesFullError(['bulk']).retryAfterSeconds, 1);
  assert.equal(new ProviderUnavailableError('503', { retryAfterSeconds: 20 }).retryAfterSeconds, 20);
  assert.equal(new ProviderUnavailableError('timeout').retryAfterSeconds, undefined);
  assert.equal(new NotFoundError('message').retryAfterSeconds, undefined);
});

test('every registry code is in the error table of docs/api.md, with its status and retry verdict', async () => {
  const { readFile } = await import('node:fs/promises');
  const doc = await readFile(new URL('../../../docs/api.md', import.meta.url), 'utf8');
  const rows = new Map(
    [...doc.matchAll(/^\| (\d{3}) \| `([a-z_]+)` \| (yes|no) \|/gm)].map(([, status, code, retry]) => [code, { status: Number(status), retry }]),
  );
  for (const [code, entry] of Object.entries(ERROR_CODES)) {
    assert.deepEqual(rows.get(code), { status: entry.httpStatus, retry: entry.retryable ? 'yes' : 'no' }, code);
  }
});
