/** Priority lanes, highest first. One Redis stream each. */
export const PRIORITIES = ['critical', 'high', 'normal', 'bulk'] as const;

export type Priority = (typeof PRIORITIES)[number];

export const DEFAULT_PRIORITY: Priority = 'normal';

export function isPriority(value: unknown): value is Priority {
  return typeof value === 'string' && (PRIORITIES as readonly string[]).includes(value);
}
