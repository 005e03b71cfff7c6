import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ValidationError } from './errors.ts';
import {
  isInsideWindow,
  nextWindowOpening,
  windowTimeZone,
  type SendWindow,
} from './send-window.ts';

const MOSCOW = 'Europe/Moscow';
const NEW_YORK = 'America/New_York';
const BERLIN = 'Europe/Berlin';
const daytime: SendWindow = { start: '09:00', end: '21:00' };
const overnight: SendWindow = { start: '22:00', end: '06:00' };

const inside = (window: SendWindow, iso: string, zone: string): boolean =>
  isInsideWindow(window, new Date(iso), undefined, zone);
const next = (window: SendWindow, iso: string, zone: string): string =>
  nextWindowOpening(window, new Date(iso), undefined, zone).toISOString();

test('a daytime window in a zone without DST opens inclusive and closes exclusive', () => {
  assert.equal(inside(daytime, '2026-06-15T05:59:59Z', MOSCOW), false); // 08:59:59 MSK
  assert.equal(inside(daytime, '2026-06-15T06:00:00Z', MOSCOW), true); // 09:00
  assert.equal(inside(daytime, '2026-06-15T17:59:59Z', MOSCOW), true); // 20:59:59
  assert.equal(inside(daytime, '2026-06-15T18:00:00Z', MOSCOW), false); // 21:00
});

test('the next opening is later today before the window, tomorrow after it', () => {
  assert.equal(next(daytime, '2026-06-15T02:00:00Z', MOSCOW), '2026-06-15T06:00:00.000Z');
  assert.equal(next(daytime, '2026-06-15T19:00:00Z', MOSCOW), '2026-06-16T06:00:00.000Z');
});

test('inside the window the next opening is the very same instant', () => {
  const at = new Date('2026-06-15T12:00:00Z');
  assert.equal(nextWindowOpening(daytime, at, undefined, MOSCOW), at);
});

test('a window crossing midnight is open late in the evening and early next morning', () => {
  assert.equal(inside(overnight, '2026-01-10T19:00:00Z', MOSCOW), true); // 22:00 MSK
  assert.equal(inside(overnight, '2026-01-10T20:59:00Z', MOSCOW), true); // 23:59
  assert.equal(inside(overnight, '2026-01-11T02:59:00Z', MOSCOW), true); // 05:59
  assert.equal(inside(overnight, '2026-01-11T03:00:00Z', MOSCOW), false); // 06:00
  assert.equal(inside(overnight, '2026-01-11T12:00:00Z', MOSCOW), false); // 15:00
  assert.equal(next(overnight, '2026-01-11T12:00:00Z', MOSCOW), '2026-01-11T19:00:00.000Z');
});

test('days restrict the window to ISO weekdays; the weekend waits for Monday', () => {
  const weekdays: SendWindow = { ...daytime, days: [1, 2, 3, 4, 5] };
  assert.equal(inside(weekdays, '2026-06-19T12:00:00Z', MOSCOW), true); // Friday 15:00
  assert.equal(inside(weekdays, '2026-06-20T12:00:00Z', MOSCOW), false); // Saturday 15:00
  assert.equal(next(weekdays, '2026-06-20T12:00:00Z', MOSCOW), '2026-06-22T06:00:00.000Z'); // Monday 09:00
  assert.equal(next(weekdays, '2026-06-19T19:00:00Z', MOSCOW), '2026-06-22T06:00:00.000Z'); // Friday 22:00
});

test('a window crossing midnight belongs to the day it opens', () => {
  const fridayNight: SendWindow = { ...overnight, days: [5] };
  assert.equal(inside(fridayNight, '2026-06-19T20:00:00Z', MOSCOW), true); // Friday 23:00
  assert.equal(inside(fridayNight, '2026-06-20T00:30:00Z', MOSCOW), true); // Saturday 03:30
  assert.equal(inside(fridayNight, '2026-06-20T20:00:00Z', MOSCOW), false); // Saturday 23:00
  assert.equal(next(fridayNight, '2026-06-20T20:00:00Z', MOSCOW), '2026-06-26T19:00:00.000Z'); // next Friday 22:00
});

test('equal start and end make a 24-hour window, so days alone say when to send', () => {
  const weekdaysAnyTime: SendWindow = { start: '00:00', end: '00:00', days: [1, 2, 3, 4, 5] };
  assert.equal(inside(weekdaysAnyTime, '2026-06-19T20:59:00Z', MOSCOW), true); // Friday 23:59
  assert.equal(inside(weekdaysAnyTime, '2026-06-20T12:00:00Z', MOSCOW), false); // Saturday
  assert.equal(next(weekdaysAnyTime, '2026-06-20T12:00:00Z', MOSCOW), '2026-06-21T21:00:00.000Z'); // Monday 00:00
});

test('New York spring-forward: an opening at 02:30 on 2026-03-08 opens at 03:00 EDT', () => {
  const early: SendWindow = { start: '02:30', end: '06:00' };
  // 01:00 EST; 02:00-03:00 does not exist that night; 03:00 EDT is 07:00Z.
  assert.equal(next(early, '2026-03-08T06:00:00Z', NEW_YORK), '2026-03-08T07:00:00.000Z');
  assert.equal(inside(early, '2026-03-08T07:00:00Z', NEW_YORK), true);
  assert.equal(inside(early, '2026-03-08T06:59:59Z', NEW_YORK), false);
  // The day before, 02:30 EST exists as usual.
  assert.equal(next(early, '2026-03-07T06:00:00Z', NEW_YORK), '2026-03-07T07:30:00.000Z');
});

test('New York daytime windows follow the offset change from EST to EDT', () => {
  assert.equal(next(daytime, '2026-03-07T03:00:00Z', NEW_YORK), '2026-03-07T14:00:00.000Z'); // 09:00 EST
  assert.equal(next(daytime, '2026-03-08T03:00:00Z', NEW_YORK), '2026-03-08T13:00:00.000Z'); // 09:00 EDT
  assert.equal(inside(daytime, '2026-03-09T00:59:00Z', NEW_YORK), true); // Sunday 20:59 EDT
  assert.equal(inside(daytime, '2026-03-09T01:00:00Z', NEW_YORK), false); // 21:00 EDT
});

test('New York fall-back: an ambiguous 01:30 on 2026-11-01 opens at its first occurrence', () => {
  const early: SendWindow = { start: '01:30', end: '05:00' };
  // 01:30 EDT is 05:30Z; 01:30 EST an hour later would be 06:30Z.
  assert.equal(next(early, '2026-11-01T04:00:00Z', NEW_YORK), '2026-11-01T05:30:00.000Z');
  assert.equal(inside(early, '2026-11-01T06:10:00Z', NEW_YORK), true); // 01:10 EST, after the first 01:30
  assert.equal(next(daytime, '2026-11-01T03:00:00Z', NEW_YORK), '2026-11-01T14:00:00.000Z'); // 09:00 EST
});

test('New York fall-back: a window ending at an ambiguous time closes at its first occurrence', () => {
  const lateNight: SendWindow = { start: '22:00', end: '01:30' };
  assert.equal(inside(lateNight, '2026-11-01T05:29:00Z', NEW_YORK), true); // 01:29 EDT
  assert.equal(inside(lateNight, '2026-11-01T05:30:00Z', NEW_YORK), false); // 01:30 EDT
  assert.equal(inside(lateNight, '2026-11-01T06:10:00Z', NEW_YORK), false); // 01:10 EST, the second time round
});

test('Berlin spring-forward: an opening at 02:30 on 2026-03-29 opens at 03:00 CEST', () => {
  const early: SendWindow = { start: '02:30', end: '04:00' };
  assert.equal(next(early, '2026-03-29T00:00:00Z', BERLIN), '2026-03-29T01:00:00.000Z');
  assert.equal(inside(early, '2026-03-29T00:45:00Z', BERLIN), false); // 01:45 CET
  assert.equal(inside(early, '2026-03-29T01:59:00Z', BERLIN), true); // 03:59 CEST
  assert.equal(inside(early, '2026-03-29T02:00:00Z', BERLIN), false); // 04:00 CEST
});

test('Berlin spring-forward: a window wholly inside the skipped hour does not open that day', () => {
  const skipped: SendWindow = { start: '02:00', end: '02:30' };
  assert.equal(next(skipped, '2026-03-28T23:30:00Z', BERLIN), '2026-03-30T00:00:00.000Z'); // next day 02:00 CEST
});

test('Berlin fall-back: an ambiguous 02:30 on 2026-10-25 opens at its first occurrence', () => {
  const early: SendWindow = { start: '02:30', end: '06:00' };
  // 02:30 CEST is 00:30Z; 02:30 CET would be 01:30Z.
  assert.equal(next(early, '2026-10-25T00:00:00Z', BERLIN), '2026-10-25T00:30:00.000Z');
  assert.equal(inside(early, '2026-10-25T01:15:00Z', BERLIN), true); // 02:15 CET, after the first 02:30
  assert.equal(next(daytime, '2026-10-25T00:00:00Z', BERLIN), '2026-10-25T08:00:00.000Z'); // 09:00 CET
});

test("the recipient's zone wins over the window's, which wins over the tenant's", () => {
  const berlinWindow: SendWindow = { ...daytime, time_zone: BERLIN };
  assert.equal(windowTimeZone(berlinWindow, NEW_YORK, MOSCOW), NEW_YORK);
  assert.equal(windowTimeZone(berlinWindow, undefined, MOSCOW), BERLIN);
  assert.equal(windowTimeZone(daytime, undefined, MOSCOW), MOSCOW);
  const at = new Date('2026-06-15T07:30:00Z'); // 10:30 MSK, 09:30 CEST, 03:30 EDT
  assert.equal(isInsideWindow(berlinWindow, at, NEW_YORK, MOSCOW), false);
  assert.equal(isInsideWindow(berlinWindow, at, undefined, MOSCOW), true);
  assert.equal(isInsideWindow(daytime, new Date('2026-06-15T06:30:00Z'), undefined, MOSCOW), true);
  assert.equal(isInsideWindow(daytime, new Date('2026-06-15T06:30:00Z'), undefined, BERLIN), false);
});

function problemPath(error: unknown): string | undefined {
  return error instanceof ValidationError ? error.problems[0]?.path : undefined;
}

test('an unknown time zone is a validation error naming the field it came from', () => {
  const at = new Date('2026-06-15T12:00:00Z');
  assert.throws(
    () => isInsideWindow(daytime, at, 'Mars/Olympus', MOSCOW),
    (e) => problemPath(e) === '/recipient/time_zone',
  );
  assert.throws(
    () => nextWindowOpening({ ...daytime, time_zone: 'Nowhere' }, at, undefined, MOSCOW),
    (e) => problemPath(e) === '/window/time_zone',
  );
  assert.throws(
    () => isInsideWindow(daytime, at, undefined, 'Bad/Zone'),
    (e) => problemPath(e) === '/tenant/time_zone',
  );
});

test('a malformed local time or an empty day list is a validation error naming the field', () => {
  const at = new Date('2026-06-15T12:00:00Z');
  assert.throws(
    () => isInsideWindow({ start: '9:00', end: '21:00' }, at, undefined, MOSCOW),
    (e) => problemPath(e) === '/window/start',
  );
  assert.throws(
    () => isInsideWindow({ start: '09:00', end: '24:00' }, at, undefined, MOSCOW),
    (e) => problemPath(e) === '/window/end',
  );
  assert.throws(
    () => nextWindowOpening({ ...daytime, days: [] }, at, undefined, MOSCOW),
    (e) => problemPath(e) === '/window/days',
  );
});
