import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RunReport } from './run-pacer.ts';

test("a run's report counts each item by action, skips by reason whatever the new id, and tells progress after each", () => {
  const ticks: Record<string, number>[] = [];
  const report = new RunReport<{ action: string; why?: string }>({ tick: (counts) => ticks.push({ ...counts }), setTotal() {}, stop() {} }, (item) => item.why);
  report.record({ action: 'replayed' });
  report.record({ action: 'skipped', why: 'already re-driven as 01KBX0000000000000000000AA' });
  report.record({ action: 'skipped', why: 'already re-driven as 01KBX0000000000000000000BB' });
  const summary = report.summary(false, true, 5);
  assert.deepEqual(summary.counts, { replayed: 1, skipped: 2 });
  assert.deepEqual(summary.skipped, { 'already re-driven': 2 });
  assert.equal(summary.items.length, 3);
  assert.equal(summary.interrupted, true);
  assert.equal(summary.selected, 5);
  assert.deepEqual(ticks, [{ replayed: 1 }, { replayed: 1, skipped: 1 }, { replayed: 1, skipped: 2 }]);
});
