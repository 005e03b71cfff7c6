/** Priority lanes, highest first. One Redis stream each. */
export const PRIORITIES = ['critical', 'high', 'normal', 'bulk'] as const;

export type Priority = (typeof PRIORITIES)[number];

export const DEFAULT_PRIORITY: Priority = 'normal';
