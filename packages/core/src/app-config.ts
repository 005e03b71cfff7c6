import { createAjv, toFieldProblems } from './ajv.ts';
import { ConfigError } from './errors.ts';

/** Maps each config field to the environment variable it is read from. */
export type EnvMap<T> = { readonly [K in keyof T]-?: string };

/**
 * Parses an app's configuration once at start-up: picks the mapped variables out of
 * `env`, coerces and defaults them by `schema`, and names the variable of every bad
 * field. The result is frozen; pass it in, never read the environment again.
 */
export function parseAppConfig<T extends object>(
  schema: object,
  envMap: EnvMap<T>,
  env: Readonly<Record<string, string | undefined>>,
): Readonly<T> {
  const raw: Record<string, string> = {};
  for (const [field, variable] of Object.entries<string>(envMap)) {
    const value = env[variable];
    if (value !== undefined && value !== '') raw[field] = value;
  }
  const validate = createAjv({ coerceTypes: true }).compile<T>(schema);
  if (!validate(raw)) {
    const problems = toFieldProblems(validate.errors).map((problem) => {
      const field = problem.path.split('/')[1] ?? '';
      const variable = (envMap as Record<string, string>)[field];
      return { path: variable ?? problem.path, message: problem.message };
    });
    throw new ConfigError(problems);
  }
  return Object.freeze(raw as T);
}
