/**
 * The JSONPath subset provider definitions use to read answers: `$`, `.name`,
 * `['name']`, `[3]` and `[*]`. No filters or script expressions: a definition is data,
 * and nothing in it is ever evaluated as code.
 */

type Step =
  | { readonly kind: 'name'; readonly name: string }
  | { readonly kind: 'index'; readonly index: number }
  | { readonly kind: 'all' };

const TOKEN = /\.([A-Za-z_$][\w$-]*)|\['([^']*)'\]|\[(\d+)\]|\[\*\]|\.\*/y;

/** Parses a path; throws with the offset of what it does not understand. */
export function parseJsonPath(path: string): readonly Step[] {
  if (!path.startsWith('$')) throw new Error(`JSONPath must start with $: ${path}`);
  const steps: Step[] = [];
  TOKEN.lastIndex = 1;
  while (TOKEN.lastIndex < path.length) {
    const at = TOKEN.lastIndex;
    const match = TOKEN.exec(path);
    if (match === null)
      throw new Error(`JSONPath ${path}: cannot read from offset ${at} ("${path.slice(at)}")`);
    const [, dotted, quoted, index] = match;
    if (dotted !== undefined) steps.push({ kind: 'name', name: dotted });
    else if (quoted !== undefined) steps.push({ kind: 'name', name: quoted });
    else if (index !== undefined) steps.push({ kind: 'index', index: Number(index) });
    else steps.push({ kind: 'all' });
  }
  return steps;
}

/** Every value the path selects in `value` (none when it leads nowhere). */
export function queryJsonPath(value: unknown, path: string): unknown[] {
  let current: unknown[] = [value];
  for (const step of parseJsonPath(path)) {
    const next: unknown[] = [];
    for (const item of current) {
      if (step.kind === 'all') {
        if (Array.isArray(item)) next.push(...(item as readonly unknown[]));
        else if (typeof item === 'object' && item !== null)
          next.push(...Object.values(item as Record<string, unknown>));
      } else if (step.kind === 'index') {
        if (Array.isArray(item) && step.index < item.length) next.push(item[step.index]);
      } else if (
        typeof item === 'object' &&
        item !== null &&
        !Array.isArray(item) &&
        Object.hasOwn(item, step.name)
      ) {
        next.push((item as Record<string, unknown>)[step.name]);
      }
    }
    current = next;
  }
  return current;
}

/** The first value the path selects, or undefined. */
export function firstJsonPath(value: unknown, path: string): unknown {
  return queryJsonPath(value, path)[0];
}
