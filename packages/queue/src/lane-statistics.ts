import { PRIORITIES, type Priority } from '@commstrat/core';
import type { Redis } from 'ioredis';
import { execOrThrow } from './exec-pipeline.ts';
import { QueueKeys } from './keys.ts';
import { DEFAULT_GROUP, type LaneQueueOptions } from './lane-options.ts';
import { laneDepth, readLaneProgress, type LaneProgress } from './lane-progress.ts';

/**
 * What the lanes hold, read without changing them: depths (admission control, weighted
 * lane selection, the depth gauge), lag and pending counts (the lag gauges, `commstrat
 * inspect`). Owns no connection.
 */
export class LaneStatistics {
  readonly keys: QueueKeys;
  readonly group: string;
  private readonly redis: Redis;

  constructor(redis: Redis, options: LaneQueueOptions = {}) {
    this.keys = new QueueKeys(options.prefix);
    this.group = options.group ?? DEFAULT_GROUP;
    this.redis = redis;
  }

  /** How far the consumer group got on each lane, in one round trip. */
  private async progress(): Promise<Record<Priority, LaneProgress>> {
    const progress = await readLaneProgress(this.redis, this.keys.lanes, this.group);
    return byLane((_lane, i) => progress[i] as LaneProgress);
  }

  /**
   * Entries in each lane not yet handled: waiting to be claimed plus claimed and not
   * yet acknowledged (the group's lag + pending; see LaneProgress). One round trip,
   * O(1) per lane for Redis.
   */
  async depths(): Promise<Record<Priority, number>> {
    const progress = await this.progress();
    return byLane((lane) => laneDepth(progress[lane]));
  }

  /**
   * Per lane, how long ago (ms) the oldest entry not yet handled was appended (0 for a
   * lane with nothing to handle), and how many entries are claimed and not yet acked,
   * from one read of the group's progress. The oldest entry is the oldest pending one if
   * any is (delivery is in id order), else the first not yet delivered. Ages are read
   * from the entry id's millisecond part against Redis's own clock (TIME), so a
   * replica's clock skew does not show as lag; two round trips. A delayed or retried
   * message counts from when it (re)entered its lane, not from when it was accepted.
   */
  async laneLag(): Promise<{ ageMs: Record<Priority, number>; pending: Record<Priority, number> }> {
    const [progress, time] = await Promise.all([this.progress(), this.redis.time()]);
    const nowMs = Number(time[0]) * 1000 + Math.floor(Number(time[1]) / 1000);
    const oldest = byLane<string | undefined>((lane) => progress[lane].oldestPendingId ?? undefined);
    const undelivered = PRIORITIES.filter((lane) => oldest[lane] === undefined && laneDepth(progress[lane]) > 0);
    if (undelivered.length > 0) {
      const pipeline = this.redis.pipeline();
      for (const lane of undelivered) {
        const after = progress[lane].lastDeliveredId;
        pipeline.xrange(this.keys.lane(lane), after === null ? '-' : `(${after}`, '+', 'COUNT', 1);
      }
      const firsts = (await execOrThrow(pipeline)) as [string, string[]][][];
      undelivered.forEach((lane, i) => (oldest[lane] = firsts[i]?.[0]?.[0]));
    }
    return {
      ageMs: byLane((lane) => {
        const id = oldest[lane];
        return id === undefined ? 0 : Math.max(0, nowMs - entryIdMs(id));
      }),
      pending: byLane((lane) => progress[lane].pending),
    };
  }
}

/** Milliseconds part of a stream entry id (`<ms>-<seq>`): when Redis appended the entry. */
function entryIdMs(entryId: string): number {
  return Number(entryId.slice(0, entryId.indexOf('-')));
}

function byLane<T>(values: (lane: Priority, index: number) => T): Record<Priority, T> {
  return Object.fromEntries(PRIORITIES.map((lane, i) => [lane, values(lane, i)])) as Record<Priority, T>;
}
