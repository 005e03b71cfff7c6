import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ValidationError } from '@commstrat/core';
import { checkRange, parseDuration, parseRate, parseRedriveStatus, parseScopes, parseTime, parseVersion } from './options.ts';

const problemOf = (fn: () => unknown) => {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof ValidationError);
    return error.problems[0];
  }
  assert.fail('no error');
};

test('durations read in their unit', () => {
  assert.equal(parseDuration('--expires-in', '90s'), 90_000);
  assert.equal(parseDuration('--expires-in', '1.5h'), 5_400_000);
  assert.equal(parseDuration('--expires-in', '500ms'), 500);
  assert.equal(problemOf(() => parseDuration('--expires-in', '10'))?.path, '--expires-in');
  assert.match(problemOf(() => parseDuration('--expires-in', '0s'))?.message ?? '', /longer than zero/);
});

test('a time is ISO 8601 (UTC without a zone) or a duration ago', () => {
  const now = Date.UTC(2026, 11, 2, 12, 0, 0);
  assert.equal(parseTime('--since', '2026-12-02T10:00', now).toISOString(), '2026-12-02T10:00:00.000Z');
  assert.equal(parseTime('--since', '2026-12-02T10:00:00+03:00', now).toISOString(), '2026-12-02T07:00:00.000Z');
  assert.equal(parseTime('--since', '2h', now).toISOString(), '2026-12-02T10:00:00.000Z');
  assert.equal(problemOf(() => parseTime('--until', 'yesterday', now))?.path, '--until');
});

test('an empty range, a bad rate and a delivered status are refused, naming the option', () => {
  assert.equal(problemOf(() => checkRange(new Date(2), new Date(1)))?.path, '--until');
  assert.equal(problemOf(() => parseRate('0'))?.path, '--rate');
  assert.equal(parseRate('2.5'), 2.5);
  assert.equal(parseRedriveStatus('failed'), 'failed');
  assert.match(problemOf(() => parseRedriveStatus('delivered'))?.message ?? '', /never re-driven/);
});

test('a version is a whole number from 1, named by its option when it is not', () => {
  assert.equal(parseVersion('--version', '3'), 3);
  assert.equal(problemOf(() => parseVersion('--version', '0'))?.path, '--version');
  assert.equal(problemOf(() => parseVersion('<from>', '1.5'))?.path, '<from>');
  assert.match(problemOf(() => parseVersion('<to>', 'latest'))?.message ?? '', /expected a version number/);
});

test('scopes are a comma-separated list, each once', () => {
  assert.deepEqual(parseScopes('send,read'), ['send', 'read']);
  assert.deepEqual(parseScopes(' admin '), ['admin']);
  assert.equal(problemOf(() => parseScopes('send,,read'))?.path, '--scopes');
  assert.match(problemOf(() => parseScopes('send,send'))?.message ?? '', /"send" twice/);
});
