/** One difference between two JSON documents: where (JSON pointer) and the values on each side; a side is absent when the field is. */
export interface Change {
  readonly path: string;
  readonly before?: unknown;
  readonly after?: unknown;
}

/**
 * What differs between two JSON documents, field by field: objects by key (key order does
 * not count, as PostgreSQL's jsonb keeps none), arrays by index, anything else by value.
 * An added field has no `before`, a removed one no `after`. Empty when they are equal.
 */
export function structuredDiff(before: unknown, after: unknown, path = ''): Change[] {
  if (isObject(before) && isObject(after)) {
    const keys = [...Object.keys(after), ...Object.keys(before).filter((key) => !Object.hasOwn(after, key))];
    return keys.flatMap((key) => fieldDiff(before, after, key, `${path}/${escapePointer(key)}`));
  }
  if (Array.isArray(before) && Array.isArray(after)) {
    const length = Math.max(before.length, after.length);
    return Array.from({ length }, (_unused, i) => fieldDiff(before, after, i, `${path}/${i}`)).flat();
  }
  // Scalars by value; an object against an array, or against a scalar, differs as a whole.
  return before === after ? [] : [{ path, before, after }];
}

function fieldDiff(before: object, after: object, key: string | number, path: string): Change[] {
  const inBefore = Object.hasOwn(before, key);
  const inAfter = Object.hasOwn(after, key);
  const left = (before as Record<string | number, unknown>)[key];
  const right = (after as Record<string | number, unknown>)[key];
  if (!inBefore) return [{ path, after: right }];
  if (!inAfter) return [{ path, before: left }];
  return structuredDiff(left, right, path);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** RFC 6901: `~` and `/` in a key. */
function escapePointer(key: string): string {
  return key.replaceAll('~', '~0').replaceAll('/', '~1');
}
