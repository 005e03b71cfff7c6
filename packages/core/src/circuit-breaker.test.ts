import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  CLOSED_CIRCUIT,
  DEFAULT_CIRCUIT_BREAKER_OPTIONS,
  canSend,
  circuitStatus,
  recordFailure,
  recordSend,
  recordSuccess,
  type CircuitState,
} from './circuit-breaker.ts';

function failTimes(times: number, state: CircuitState = CLOSED_CIRCUIT, now = 0): CircuitState {
  let next = state;
  for (let i = 0; i < times; i++) next = recordFailure(next, now);
  return next;
}

const opened = failTimes(5, CLOSED_CIRCUIT, 1000); // open until 31 000

test('the defaults are 5 consecutive failures and 30 s open', () => {
  assert.deepEqual(DEFAULT_CIRCUIT_BREAKER_OPTIONS, { failureThreshold: 5, openMs: 30_000 });
});

test('a closed circuit lets every request through', () => {
  assert.equal(canSend(CLOSED_CIRCUIT, 0), true);
  assert.equal(canSend(failTimes(4), 0), true);
});

test('closed stays closed below the failure threshold', () => {
  assert.deepEqual(failTimes(4), { status: 'closed', consecutiveFailures: 4 });
});

test('closed opens at the failure threshold and refuses sends for openMs', () => {
  assert.deepEqual(opened, { status: 'open', openUntil: 31_000 });
  assert.equal(canSend(opened, 1000), false);
  assert.equal(canSend(opened, 30_999), false);
  assert.equal(circuitStatus(opened, 30_999), 'open');
});

test('a success in between resets the count: only consecutive failures open the circuit', () => {
  const state = recordSuccess(failTimes(4), 0);
  assert.deepEqual(state, CLOSED_CIRCUIT);
  assert.equal(failTimes(4, state).status, 'closed');
});

test('the threshold and open time are options', () => {
  const state = recordFailure(CLOSED_CIRCUIT, 100, { failureThreshold: 1, openMs: 50 });
  assert.deepEqual(state, { status: 'open', openUntil: 150 });
});

test('after openMs an open circuit lets exactly one probe through', () => {
  assert.equal(canSend(opened, 31_000), true);
  assert.equal(circuitStatus(opened, 31_000), 'half-open');
  const probing = recordSend(opened, 31_000);
  assert.deepEqual(probing, { status: 'half-open', probeDeadline: 61_000 });
  assert.equal(canSend(probing, 31_001), false, 'a second request waits for the probe');
});

test('a successful probe closes the circuit', () => {
  const probing = recordSend(opened, 31_000);
  const closed = recordSuccess(probing, 31_200);
  assert.deepEqual(closed, CLOSED_CIRCUIT);
  assert.equal(canSend(closed, 31_200), true);
});

test('a failed probe opens the circuit again for openMs', () => {
  const probing = recordSend(opened, 31_000);
  const reopened = recordFailure(probing, 31_500);
  assert.deepEqual(reopened, { status: 'open', openUntil: 61_500 });
  assert.equal(canSend(reopened, 61_499), false);
  // A probe sent without recordSend that fails counts the same.
  assert.deepEqual(recordFailure(opened, 40_000), { status: 'open', openUntil: 70_000 });
});

test('a probe that never answers is replaced by another after openMs', () => {
  const probing = recordSend(opened, 31_000);
  assert.equal(canSend(probing, 60_999), false);
  assert.equal(canSend(probing, 61_000), true);
  assert.deepEqual(recordSend(probing, 61_000), { status: 'half-open', probeDeadline: 91_000 });
});

test('late answers to requests sent before the circuit opened do not change it', () => {
  assert.equal(recordSuccess(opened, 2000), opened);
  assert.equal(recordFailure(opened, 2000), opened);
});

test('recordSend on a closed circuit changes nothing', () => {
  assert.equal(recordSend(CLOSED_CIRCUIT, 5), CLOSED_CIRCUIT);
  assert.equal(recordSend(opened, 2000), opened, 'nor on an open one whose time is not up');
});
