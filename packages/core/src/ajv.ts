import { Ajv, type ErrorObject, type Options } from 'ajv';
import addFormatsModule from 'ajv-formats';
import type { FieldProblem } from './errors.ts';

// ajv-formats is CommonJS; under NodeNext its default export arrives wrapped.
const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;

/** A configured Ajv instance: all errors, formats, defaults filled in. */
export function createAjv(options: Options = {}): Ajv {
  // strictRequired is off: `anyOf: [{ required: ['channel'] }, ...]` names properties declared
  // by the parent schema, which is the plain way to say "one of these must be present".
  const ajv = new Ajv({ allErrors: true, useDefaults: true, strict: true, strictRequired: false, ...options });
  return addFormats(ajv);
}

/** Ajv errors as JSON-pointer field problems, naming the missing or extra property. */
export function toFieldProblems(errors: readonly ErrorObject[] | null | undefined): FieldProblem[] {
  const problems: FieldProblem[] = [];
  for (const error of errors ?? []) {
    // An anyOf reports every branch that failed; the caller explains the choice instead.
    if (error.keyword === 'anyOf' || error.schemaPath.includes('/anyOf/')) continue;
    const params = error.params as Record<string, unknown>;
    let path = error.instancePath;
    let message = error.message ?? 'is invalid';
    if (error.keyword === 'required' && typeof params['missingProperty'] === 'string') {
      path = `${path}/${params['missingProperty']}`;
      message = 'is required';
    } else if (
      error.keyword === 'additionalProperties' &&
      typeof params['additionalProperty'] === 'string'
    ) {
      path = `${path}/${params['additionalProperty']}`;
      message = 'is not an allowed property';
    } else if (error.keyword === 'enum' && Array.isArray(params['allowedValues'])) {
      message = `must be one of: ${params['allowedValues'].join(', ')}`;
    }
    if (!problems.some((p) => p.path === path && p.message === message)) {
      problems.push({ path, message });
    }
  }
  return problems;
}
