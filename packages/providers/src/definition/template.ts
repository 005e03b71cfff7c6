import { firstJsonPath } from './json-path.ts';

/**
 * Request templates of provider definitions. A template is plain JSON data:
 * - a string that is exactly `{{ path }}` becomes the value at `path` (any JSON type; the
 *   key is left out when there is none);
 * - `{{ path }}` inside a longer string is replaced by the value as text;
 * - `{ "$each": "messages", "$as": "message", "$template": … }` becomes one rendered
 *   `$template` per item of the array at `$each`, with the item bound to `$as`;
 * - a path may end in filters from a fixed list: `| digits` (keep digits only, e.g.
 *   E.164 without the plus) and `| string`.
 * Paths are dot paths into the context (`message.recipient.phone`, `credentials.sender`).
 * Nothing is evaluated as code.
 */

const WHOLE = /^\{\{\s*([^}]+?)\s*\}\}$/;
const INLINE = /\{\{\s*([^}]+?)\s*\}\}/g;

export const TEMPLATE_FILTERS = ['digits', 'string'] as const;

export type TemplateContext = Readonly<Record<string, unknown>>;

/** A rendered value as text: objects as JSON, nothing as the empty string. */
export function asText(value: unknown): string {
  if (value === undefined || value === null) return '';
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint')
    return String(value);
  return JSON.stringify(value);
}

function lookup(expression: string, context: TemplateContext): unknown {
  const [path = '', ...filters] = expression.split('|').map((part) => part.trim());
  let value = firstJsonPath(context, `$.${path}`);
  for (const filter of filters) {
    if (value === undefined || value === null) break;
    if (filter === 'digits') value = asText(value).replace(/\D/g, '');
    else if (filter === 'string') value = asText(value);
    else throw new Error(`unknown template filter "${filter}"`);
  }
  return value;
}

/** Renders `template` against `context`; undefined where a whole placeholder has no value. */
export function renderTemplate(template: unknown, context: TemplateContext): unknown {
  if (typeof template === 'string') {
    const whole = WHOLE.exec(template);
    if (whole?.[1] !== undefined) return lookup(whole[1], context);
    return template.replace(INLINE, (_match, expression: string) =>
      asText(lookup(expression, context)),
    );
  }
  if (Array.isArray(template)) {
    return template
      .map((item) => renderTemplate(item, context))
      .filter((item) => item !== undefined);
  }
  if (typeof template === 'object' && template !== null) {
    const record = template as Record<string, unknown>;
    if (typeof record['$each'] === 'string') {
      const items = lookup(record['$each'], context);
      const as = typeof record['$as'] === 'string' ? record['$as'] : 'item';
      return (Array.isArray(items) ? items : []).map((item: unknown) =>
        renderTemplate(record['$template'], { ...context, [as]: item }),
      );
    }
    const rendered: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(record)) {
      const result = renderTemplate(value, context);
      if (result !== undefined) rendered[key] = result;
    }
    return rendered;
  }
  return template;
}
