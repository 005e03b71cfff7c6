// A template's variables are declared as a JSON Schema that the tenant writes and
// ingest runs on every message naming the template, so only a subset of JSON Schema is
// taken: no `pattern` (a backtracking regular expression on every message can stall
// intake: ReDoS), no `$ref`, bounded depth and size.
import { createAjv, toFieldProblems, type FieldProblem } from '@commstrat/core';

const SUBSCHEMA = ['items', 'not', 'additionalProperties'] as const;
const SUBSCHEMA_LISTS = ['anyOf', 'oneOf', 'allOf'] as const;
const PLAIN = new Set([
  'type', 'required', 'enum', 'const', 'minLength', 'maxLength', 'minimum', 'maximum', 'exclusiveMinimum',
  'exclusiveMaximum', 'multipleOf', 'minItems', 'maxItems', 'uniqueItems', 'minProperties', 'maxProperties',
  'format', 'title', 'description', 'default', 'examples',
]);
const FORMATS = ['date', 'time', 'date-time', 'email', 'uri', 'uuid'];
const REFUSED: Readonly<Record<string, string>> = {
  pattern: 'is not allowed: a regular expression would run on every message (use format, enum or maxLength)',
  patternProperties: 'is not allowed: a regular expression would run on every message',
  $ref: 'is not allowed: write the schema out in place',
};
const MAX_DEPTH = 8;
const MAX_NODES = 500;

// Strict: a keyword Ajv does not know is a mistake, not something to ignore.
const ajv = createAjv({ useDefaults: false, allowUnionTypes: true });

/** A compiled variables schema: problems of a message's variables, empty when they are fine. */
export type VariablesCheck = (variables: unknown) => FieldProblem[];

/**
 * Checks a tenant's variables schema (at JSON-pointer `at` of the template) and compiles
 * it. The top level must be `type: object`; when it does not say `additionalProperties`,
 * variables it does not declare are refused (a misspelt name fails at intake, not in
 * the text). Returns the check, or the problems found.
 */
export function compileVariablesSchema(schema: unknown, at = '/variables'): { check: VariablesCheck } | { problems: FieldProblem[] } {
  const problems: FieldProblem[] = [];
  if (!isObject(schema) || schema['type'] !== 'object') {
    return { problems: [{ path: `${at}/type`, message: 'must be "object": the variables are an object of named values' }] };
  }
  let nodes = 0;
  const walk = (node: unknown, path: string, depth: number) => {
    if (typeof node === 'boolean') return;
    if (!isObject(node)) return void problems.push({ path, message: 'must be a schema (an object)' });
    if (++nodes > MAX_NODES) return void (nodes === MAX_NODES + 1 && problems.push({ path, message: `the schema has more than ${MAX_NODES} parts` }));
    if (depth > MAX_DEPTH) return void problems.push({ path, message: `nests deeper than ${MAX_DEPTH} levels` });
    for (const [keyword, value] of Object.entries(node)) {
      const here = `${path}/${keyword}`;
      const refused = REFUSED[keyword];
      if (refused !== undefined) problems.push({ path: here, message: refused });
      else if (keyword === 'properties') {
        if (!isObject(value)) problems.push({ path: here, message: 'must be an object of schemas' });
        else for (const [name, sub] of Object.entries(value)) walk(sub, `${here}/${name}`, depth + 1);
      } else if ((SUBSCHEMA as readonly string[]).includes(keyword)) walk(value, here, depth + 1);
      else if ((SUBSCHEMA_LISTS as readonly string[]).includes(keyword)) {
        if (!Array.isArray(value)) problems.push({ path: here, message: 'must be a list of schemas' });
        else value.forEach((sub, i) => walk(sub, `${here}/${i}`, depth + 1));
      } else if (keyword === 'format' && !FORMATS.includes(String(value))) {
        problems.push({ path: here, message: `must be one of: ${FORMATS.join(', ')}` });
      } else if (!PLAIN.has(keyword)) {
        problems.push({ path: here, message: 'is not a JSON Schema keyword variables may use' });
      }
    }
  };
  walk(schema, at, 0);
  if (problems.length > 0) return { problems };
  const closed = 'additionalProperties' in schema ? schema : { ...schema, additionalProperties: false };
  let validate: ReturnType<typeof ajv.compile>;
  try {
    validate = ajv.compile(closed);
  } catch (error) {
    return { problems: [{ path: at, message: `is not a valid JSON Schema: ${error instanceof Error ? error.message : String(error)}` }] };
  }
  return {
    check: (variables) =>
      validate(variables)
        ? []
        : toFieldProblems(validate.errors).map((problem) =>
            problem.message === 'is not an allowed property' ? { ...problem, message: 'is not a variable of this template' } : problem,
          ),
  };
}

/**
 * Why the schema does not declare a variable the template uses, by its path of
 * segments as LiquidJS's static analysis gives it (`user.name` is ['user', 'name'];
 * a segment that is itself a variable, `items[i]`, is an array: the path is not
 * followed past it). Undefined when declared, or when the schema does not say
 * (no `properties`, or `anyOf` and the like).
 */
export function undeclaredReason(schema: Readonly<Record<string, unknown>>, segments: readonly unknown[]): string | undefined {
  let node: unknown = 'additionalProperties' in schema ? schema : { ...schema, additionalProperties: false };
  for (const segment of segments) {
    if (!isObject(node) || Array.isArray(segment)) return undefined;
    const key = String(segment);
    if (node['type'] === 'array' || 'items' in node) {
      if (key === 'size') return undefined;
      if (key === 'first' || key === 'last' || /^-?\d+$/.test(key)) {
        node = node['items'];
        continue;
      }
      return `is an array: use .first, .last, .size or an index, not .${key}`;
    }
    if (node['type'] === 'string') return key === 'size' || key === 'first' || key === 'last' ? undefined : `is a string: it has no .${key}`;
    const properties = node['properties'];
    if (!isObject(properties)) return undefined;
    if (Object.hasOwn(properties, key)) {
      node = properties[key];
      continue;
    }
    // A name the schema does not list is taken as a typo unless the schema lets any
    // name in (`additionalProperties: true` or a schema): stricter than JSON Schema's
    // default, on purpose, so `{{ user.nmae }}` is refused on save.
    const extra = node['additionalProperties'];
    if (extra === true) return undefined;
    if (isObject(extra)) {
      node = extra;
      continue;
    }
    return 'is not declared in variables (list it under properties)';
  }
  return undefined;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
