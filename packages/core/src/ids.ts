import { monotonicFactory } from 'ulid';

const nextUlid = monotonicFactory();

/** A new server id: a ULID, so ids sort by creation time. */
export function newId(now: number = Date.now()): string {
  return nextUlid(now);
}
