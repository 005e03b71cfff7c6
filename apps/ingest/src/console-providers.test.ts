import assert from 'node:assert/strict';
import { test } from 'node:test';
import { healthOf, OUTCOME_CLASSES, outcomeQuery } from './console-providers.ts';

test('the outcome query names the provider as a string literal, quotes and backslashes escaped, with the selector spliced in', () => {
  const query = outcomeQuery('acme/sms"} or vector(1) #\\', 'job="dispatcher"', 5);
  assert.ok(query.includes('provider="acme/sms\\"} or vector(1) #\\\\",job="dispatcher"'), query);
  assert.equal(query.match(/sum by \(class\)/g)?.length, 5, 'one part per counter');
  for (const cls of OUTCOME_CLASSES.filter((c) => !['accepted', 'rejected', 'error'].includes(c))) assert.ok(query.includes(`"class", "${cls}"`), cls);
  assert.ok(query.includes('"class", "$1", "outcome", "(.+)"'), 'the dispatched counter takes its class from its outcome');
});

test('the rate window covers two steps and at least two scrapes', () => {
  assert.match(outcomeQuery('acme/sms', undefined, 5), /\[30s\]/);
  assert.match(outcomeQuery('acme/sms', undefined, 480), /\[960s\]/);
  assert.equal(outcomeQuery('acme/sms', '', 5).includes(',}'), false, 'an empty selector adds nothing');
});

test('health: disabled, unknown without a dispatcher, down when every circuit is open, degraded when some are not closed', () => {
  assert.equal(healthOf(false, ['closed'], 1), 'disabled');
  assert.equal(healthOf(true, [], 0), 'unknown');
  assert.equal(healthOf(true, [], 2), 'healthy');
  assert.equal(healthOf(true, ['closed', 'closed'], 2), 'healthy');
  assert.equal(healthOf(true, ['closed', 'half-open'], 2), 'degraded');
  assert.equal(healthOf(true, ['open', 'closed'], 2), 'degraded');
  assert.equal(healthOf(true, ['open', 'open'], 2), 'down');
});
