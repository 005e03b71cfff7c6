import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createLogger, createRegistry, ingestMetrics } from '@commstrat/observability';
import { LaneBackpressure } from './kafka-backpressure.ts';

function setup(depths: () => Promise<Record<string, number>>) {
  const calls: string[] = [];
  const registry = createRegistry('test');
  const metrics = ingestMetrics(registry);
  const backpressure = new LaneBackpressure(
    {
      depths,
      pause: () => calls.push('pause'),
      resume: () => calls.push('resume'),
      metrics,
      logger: createLogger({ service: 'test', console: false }),
    },
    { cap: 100 },
  );
  return { backpressure, calls, registry };
}

test('intake pauses above the cap and resumes only below 90 % of it', async () => {
  let depth = 0;
  const { backpressure, calls, registry } = setup(() => Promise.resolve({ high: depth, normal: depth }));
  for (const [total, paused] of [
    [100, false],
    [102, true],
    [96, true],
    [90, true],
    [88, false],
    [98, false],
  ] as const) {
    depth = total / 2;
    await backpressure.check();
    assert.equal(backpressure.paused, paused, `at ${total} entries`);
  }
  assert.deepEqual(calls, ['pause', 'resume']);
  const text = await registry.metrics();
  assert.match(text, /^commstrat_kafka_backpressure_pauses_total\{[^}]*\} 1$/m);
  assert.match(text, /^commstrat_kafka_paused\{[^}]*\} 0$/m);
});

test('an unreadable lane depth keeps the current state; a restarted consumer gets its pause again', async () => {
  let fail = false;
  const { backpressure, calls } = setup(() => (fail ? Promise.reject(new Error('redis down')) : Promise.resolve({ normal: 500 })));
  await backpressure.check();
  fail = true;
  await backpressure.check();
  assert.equal(backpressure.paused, true);
  backpressure.reapply();
  assert.deepEqual(calls, ['pause', 'pause']);
});
