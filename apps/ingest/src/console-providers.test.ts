import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { test } from 'node:test';
import { DependencyUnavailableError } from '@commstrat/core';
import { healthOf, OUTCOME_CLASSES, outcomeQuery, queryRange } from './console-providers.ts';

/** A Prometheus stand-in on a free port that answers every query with `status` and `body`. */
async function prometheusAnswering(status: number, body: object): Promise<{ url: string; close(): void }> {
  const server = createServer((_req, res) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body)));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return { url: `http://127.0.0.1:${port}`, close: () => server.close() };
}

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

test('a query Prometheus refuses as bad (400 bad_data) is our fault, not "unavailable"; a 503 from it is unavailable', async (t) => {
  const refusing = await prometheusAnswering(400, { status: 'error', errorType: 'bad_data', error: 'parse error: unexpected character' });
  t.after(() => refusing.close());
  await assert.rejects(queryRange({ url: refusing.url }, 'up', 0, 60, 5), (error: unknown) => {
    assert.equal(error instanceof DependencyUnavailableError, false);
    assert.match(String(error), /Prometheus answered 400: parse error/);
    return true;
  });
  const down = await prometheusAnswering(503, { status: 'error', error: 'the TSDB is loading' });
  t.after(() => down.close());
  await assert.rejects(queryRange({ url: down.url }, 'up', 0, 60, 5), DependencyUnavailableError);
  const fine = await prometheusAnswering(200, { status: 'success', data: { result: [{ metric: { class: 'accepted' }, values: [[60, '1.5']] }] } });
  t.after(() => fine.close());
  assert.deepEqual([...(await queryRange({ url: fine.url }, 'up', 0, 60, 5))], [['accepted', [[60_000, 1.5]]]]);
});
