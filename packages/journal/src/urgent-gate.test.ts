import assert from 'node:assert/strict';
import { test } from 'node:test';
import { UrgentGate } from './urgent-gate.ts';

test('clear waits for the critical writes in flight when asked, and not for those started later', async () => {
  const gate = new UrgentGate();
  await gate.clear(); // none in flight: at once
  let finishFirst: () => void = () => undefined;
  void gate.track(new Promise<void>((resolve) => (finishFirst = resolve)));
  let cleared = false;
  const clearing = gate.clear().then(() => (cleared = true));
  void gate.track(new Promise<void>(() => undefined)); // started later, never ends
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.equal(cleared, false, 'the first is still in flight');
  finishFirst();
  await clearing;
  assert.equal(cleared, true);
});

test('a failed critical write clears the gate like a finished one, and track hands back its outcome', async () => {
  const gate = new UrgentGate();
  await assert.rejects(gate.track(Promise.reject(new Error('server went away'))), /server went away/);
  await gate.clear();
});
