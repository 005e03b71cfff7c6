/** One difference between two JSON values: where (JSON pointer) and the value on each side. */
export interface JsonChange {
  readonly path: string;
  /** undefined where `path` is absent before (an added property or array item). */
  readonly before?: unknown;
  /** undefined where `path` is absent after (a removed property or array item). */
  readonly after?: unknown;
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** RFC 6901: `~` and `/` in a property name are escaped. */
const escape = (key: string) => key.replaceAll('~', '~0').replaceAll('/', '~1');

/**
 * The differences between two JSON values, each at the JSON pointer of the deepest
 * place they differ, properties in name order: objects are compared by property, arrays by
 * index (an item inserted at the front shows as every later item changed, which for
 * strategy steps and provider lists is what an operator reads anyway), anything else by
 * value. Equal values give [].
 */
export function jsonDiff(before: unknown, after: unknown, path = ''): JsonChange[] {
  if (isObject(before) && isObject(after)) {
    const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
    return keys.flatMap((key) => {
      const at = `${path}/${escape(key)}`;
      if (!(key in after)) return [{ path: at, before: before[key] }];
      if (!(key in before)) return [{ path: at, after: after[key] }];
      return jsonDiff(before[key], after[key], at);
    });
  }
  if (Array.isArray(before) && Array.isArray(after)) {
    const changes: JsonChange[] = [];
    for (let i = 0; i < Math.max(before.length, after.length); i++) {
      const at = `${path}/${i}`;
      if (i >= after.length) changes.push({ path: at, before: before[i] as unknown });
      else if (i >= before.length) changes.push({ path: at, after: after[i] as unknown });
      else changes.push(...jsonDiff(before[i], after[i], at));
    }
    return changes;
  }
  return Object.is(before, after) ? [] : [{ path, before, after }];
}
