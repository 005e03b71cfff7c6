import { IANAZone } from 'luxon';
import { ValidationError } from './errors.ts';

/**
 * The local times a step may send in, e.g. 09:00–21:00 on weekdays. Evaluated in the
 * recipient's time zone, else `time_zone`, else the tenant's.
 */
export interface SendWindow {
  /** Local time the window opens, "HH:MM" (24-hour). */
  readonly start: string;
  /**
   * Local time the window closes, "HH:MM", exclusive. Earlier than `start`: the window
   * crosses midnight (22:00–06:00). Equal to `start`: the window lasts 24 hours, which
   * with `days` says "any time on these days".
   */
  readonly end: string;
  /**
   * ISO weekdays the window opens on (1 = Monday … 7 = Sunday); absent = every day. A
   * window crossing midnight belongs to the day it opens: 22:00–06:00 on [5] runs from
   * Friday 22:00 to Saturday 06:00.
   */
  readonly days?: readonly number[];
  /** IANA time zone used when the recipient has none, e.g. "Europe/Berlin". */
  readonly time_zone?: string;
}

const MINUTE_MS = 60_000;
const DAY_MS = 86_400_000;
const CLOCK = /^([01]\d|2[0-3]):([0-5]\d)$/;

/**
 * The zone a window is evaluated in: the recipient's, else the window's, else the
 * tenant's. An unknown zone throws ValidationError naming its field
 * (`/recipient/time_zone`, `/window/time_zone` or `/tenant/time_zone`).
 */
export function windowTimeZone(
  window: SendWindow,
  recipientTimeZone: string | undefined,
  tenantTimeZone: string,
): string {
  if (recipientTimeZone !== undefined)
    return checkZone(recipientTimeZone, '/recipient/time_zone').name;
  if (window.time_zone !== undefined) return checkZone(window.time_zone, '/window/time_zone').name;
  return checkZone(tenantTimeZone, '/tenant/time_zone').name;
}

/** Whether `at` falls inside the window (opening inclusive, closing exclusive). */
export function isInsideWindow(
  window: SendWindow,
  at: Date,
  recipientTimeZone: string | undefined,
  tenantTimeZone: string,
): boolean {
  return isInside(compile(window, recipientTimeZone, tenantTimeZone), instantOf(at));
}

/**
 * When the window next opens: `at` itself when inside it, else the first opening after.
 * A local opening time skipped by a DST change (02:30 on a spring-forward day) opens when
 * the clock jumps (03:00); one that occurs twice (fall-back) opens at the first.
 */
export function nextWindowOpening(
  window: SendWindow,
  at: Date,
  recipientTimeZone: string | undefined,
  tenantTimeZone: string,
): Date {
  const calendar = compile(window, recipientTimeZone, tenantTimeZone);
  const t = instantOf(at);
  if (isInside(calendar, t)) return at;
  const today = calendar.localDay(t);
  // Every weekday comes round within 7 days; one more covers today's opening being past.
  for (let day = today; day <= today + 8; day++) {
    const span = calendar.spanOn(day);
    if (span !== undefined && span.open > t) return new Date(span.open);
  }
  throw new Error(`send window never opens: ${JSON.stringify(window)}`);
}

interface Span {
  readonly open: number;
  readonly close: number;
}

interface Calendar {
  /** Local calendar day (days since 1970-01-01) of an instant. */
  localDay(t: number): number;
  /** The window opening on a local day, or undefined when it does not open that day. */
  spanOn(day: number): Span | undefined;
}

function isInside(calendar: Calendar, t: number): boolean {
  const today = calendar.localDay(t);
  // Yesterday's window may still be open: it crosses midnight or lasts 24 hours.
  return [today - 1, today].some((day) => {
    const span = calendar.spanOn(day);
    return span !== undefined && span.open <= t && t < span.close;
  });
}

function compile(
  window: SendWindow,
  recipientTimeZone: string | undefined,
  tenantTimeZone: string,
): Calendar {
  const zone = IANAZone.create(windowTimeZone(window, recipientTimeZone, tenantTimeZone));
  const start = parseClock(window.start, '/window/start');
  const end = parseClock(window.end, '/window/end');
  const days = window.days === undefined ? undefined : new Set(window.days);
  if (days !== undefined && ![1, 2, 3, 4, 5, 6, 7].some((d) => days.has(d))) {
    throw new ValidationError([
      { path: '/window/days', message: 'must name at least one ISO weekday (1-7)' },
    ]);
  }
  return {
    localDay: (t) => Math.floor((t + zone.offset(t) * MINUTE_MS) / DAY_MS),
    spanOn: (day) => {
      if (days !== undefined && !days.has(isoWeekday(day))) return undefined;
      const open = localToInstant(zone, day * DAY_MS + start * MINUTE_MS);
      const closeDay = end <= start ? day + 1 : day;
      const close = localToInstant(zone, closeDay * DAY_MS + end * MINUTE_MS);
      // A window lying wholly inside a DST gap (02:00–02:30 on spring-forward day) is empty.
      return close > open ? { open, close } : undefined;
    },
  };
}

/**
 * The instant a local wall-clock time (as ms since the epoch, read as if UTC) happens
 * in `zone`. Ambiguous (clocks went back): the first occurrence. Non-existent (clocks
 * jumped over it): the instant of the jump, i.e. the first local time after the gap.
 * Assumes at most one offset change within a day either side, true of every real zone.
 */
function localToInstant(zone: IANAZone, wall: number): number {
  const offsets = new Set([zone.offset(wall - DAY_MS), zone.offset(wall + DAY_MS)]);
  const matches = [...offsets]
    .map((o) => wall - o * MINUTE_MS)
    .filter((t) => zone.offset(t) * MINUTE_MS === wall - t);
  if (matches.length > 0) return Math.min(...matches);
  const candidates = [...offsets].map((o) => wall - o * MINUTE_MS);
  let before = Math.min(...candidates);
  let after = Math.max(...candidates);
  const offsetBefore = zone.offset(before);
  while (after - before > 1) {
    const middle = Math.floor((before + after) / 2);
    if (zone.offset(middle) === offsetBefore) before = middle;
    else after = middle;
  }
  return after;
}

function isoWeekday(day: number): number {
  // 1970-01-01 was a Thursday (ISO 4).
  return ((((day + 3) % 7) + 7) % 7) + 1;
}

function parseClock(value: string, path: string): number {
  const match = CLOCK.exec(value);
  if (match === null)
    throw new ValidationError([{ path, message: 'must be a local time "HH:MM" (00:00-23:59)' }]);
  return Number(match[1]) * 60 + Number(match[2]);
}

function checkZone(name: string, path: string): IANAZone {
  const zone = IANAZone.create(name);
  if (!zone.isValid)
    throw new ValidationError([{ path, message: `is not a known IANA time zone: ${name}` }]);
  return zone;
}

function instantOf(at: Date): number {
  const t = at.getTime();
  if (Number.isNaN(t)) throw new RangeError('send window: `at` is an invalid Date');
  return t;
}

/** Whether `name` is an IANA time zone this runtime knows; used by schema-level checks. */
export function isKnownTimeZone(name: string): boolean {
  return IANAZone.isValidZone(name);
}
