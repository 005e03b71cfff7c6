import { ValidationError, type MessageStatus } from '@commstrat/core';
import { REDRIVABLE } from '@commstrat/redrive';

const UNITS_MS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `90s`, `15m`, `2h`, `7d`, `500ms` in milliseconds; `option` names the flag in the error. */
export function parseDuration(option: string, text: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/.exec(text.trim());
  if (match === null) throw invalid(option, `expected a duration such as 90s, 15m, 2h or 7d, got "${text}"`);
  const ms = Number(match[1]) * (UNITS_MS[match[2] ?? ''] ?? 0);
  if (!(ms > 0)) throw invalid(option, `must be longer than zero, got "${text}"`);
  return ms;
}

/**
 * A point in time: ISO 8601 (`2026-12-02T10:00:00Z`; without a zone it is UTC, so a
 * range means the same on every operator's machine) or a duration ago (`2h`).
 */
export function parseTime(option: string, text: string, now: number): Date {
  if (/^\d+(?:\.\d+)?(ms|s|m|h|d)$/.test(text.trim())) return new Date(now - parseDuration(option, text));
  const iso = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?$/.test(text) ? `${text}${text.includes('T') ? 'Z' : ''}` : text;
  const at = new Date(iso);
  if (Number.isNaN(at.getTime())) {
    throw invalid(option, `expected an ISO 8601 time (2026-12-02T10:00:00Z) or a duration ago (2h), got "${text}"`);
  }
  return at;
}

/** Messages (or entries) a second, > 0. */
export function parseRate(text: string): number {
  const rate = Number(text);
  if (!Number.isFinite(rate) || rate <= 0) throw invalid('--rate', `expected messages per second > 0, got "${text}"`);
  return rate;
}

/** How far a whole run may go: a positive whole number. */
export function parseLimit(text: string): number {
  const limit = Number(text);
  if (!Number.isInteger(limit) || limit <= 0) throw invalid('--limit', `expected a whole number > 0, got "${text}"`);
  return limit;
}

export function parseRedriveStatus(text: string): MessageStatus {
  const status = REDRIVABLE.find((candidate) => candidate === text);
  if (status === undefined) {
    throw invalid('--status', `expected one of ${REDRIVABLE.join(', ')} (a delivered message is never re-driven), got "${text}"`);
  }
  return status;
}

/** [since, until) must not be empty. */
export function checkRange(since: Date | undefined, until: Date | undefined): void {
  if (since !== undefined && until !== undefined && since >= until) {
    throw invalid('--until', `must be after --since (${since.toISOString()}), got ${until.toISOString()}`);
  }
}

/** A strategy version: a whole number from 1. */
export function parseVersion(option: string, text: string): number {
  if (!/^[1-9][0-9]{0,8}$/.test(text.trim())) throw invalid(option, `expected a version number (1, 2, ...), got "${text}"`);
  return Number(text.trim());
}

/**
 * `send,read` as `['send', 'read']`. Which scopes exist is ingest's to say (it names the
 * unknown one); here only the list's shape: at least one, none twice, no empty item.
 */
export function parseScopes(text: string): string[] {
  const scopes = text.split(',').map((scope) => scope.trim());
  if (scopes.some((scope) => scope === '')) throw invalid('--scopes', `expected a comma-separated list such as send,read, got "${text}"`);
  const twice = scopes.find((scope, i) => scopes.indexOf(scope) !== i);
  if (twice !== undefined) throw invalid('--scopes', `names "${twice}" twice`);
  return scopes;
}

export function invalid(option: string, message: string): ValidationError {
  return new ValidationError([{ path: option, message }]);
}
