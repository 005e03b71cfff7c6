import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AdminApiError, errorOf } from './admin-client.ts';

test('an API error keeps its code and field paths, and says what to do next', () => {
  const invalid = errorOf(422, { error: { code: 'validation_failed', message: '/steps/0/ttl_seconds: must be >= 1', problems: [{ path: '/steps/0/ttl_seconds', message: 'must be >= 1' }, { path: '/channel', message: 'unknown' }] } }, 'POST /v1/admin/strategies/validate', 'the strategy in otp.yaml');
  assert.ok(invalid instanceof AdminApiError);
  assert.equal(invalid.code, 'validation_failed');
  assert.deepEqual(invalid.problems.map((problem) => problem.path), ['/steps/0/ttl_seconds', '/channel']);
  assert.match(invalid.message, /^the strategy in otp\.yaml is invalid, fix these 2 fields/);

  const unauthorized = errorOf(401, { error: { code: 'unauthorized', message: 'missing or invalid API key' } }, 'GET /v1/admin/keys');
  assert.equal(unauthorized.code, 'unauthorized');
  assert.match(unauthorized.message, /check COMMSTRAT_ADMIN_KEY/);
  assert.match(errorOf(403, { error: { code: 'forbidden', message: 'lacks the "admin" scope' } }, 'GET /x').message, /key with the admin scope/);
});

test('an answer that is not the API error shape still gets a code from its status', () => {
  assert.equal(errorOf(502, '<html>bad gateway</html>', 'GET /x').code, 'dependency_unavailable');
  assert.equal(errorOf(404, undefined, 'GET /x').code, 'not_found');
  assert.equal(errorOf(418, { error: { code: 'teapot' } }, 'GET /x').code, 'bad_request');
});
