/** Priority lanes, highest first. One Redis stream each. */
export const PRIORITIES = ['critical', 'high', 'normal', 'bulk'] as const;

export type Priority = (typeof PRIORITIES)[number];

export const DEFAULT_PRIORITY: Priority = 'normal';

/** What every Redis key of the service starts with unless COMMSTRAT_REDIS_PREFIX says otherwise. */
export const DEFAULT_REDIS_PREFIX = 'commstrat:';
