import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ValidationError } from '@commstrat/core';
import { pathParam } from './route-support.ts';

test('a path parameter holding a NUL is refused as that parameter, 422, before any lookup', () => {
  assert.throws(
    () => pathParam({ params: { name: 'otp\0' } }, 'name'),
    (error: unknown) => error instanceof ValidationError && error.httpStatus === 422 && error.problems?.[0]?.path === '/name',
  );
  assert.equal(pathParam({ params: { name: 'otp-2' } }, 'name'), 'otp-2');
  assert.equal(pathParam({ params: {} }, 'name'), '');
});
