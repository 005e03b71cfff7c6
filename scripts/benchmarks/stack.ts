// The local stack as `scripts/stack env` exports it, read once by a benchmark's main and
// passed in: nothing else in scripts/benchmarks reads process.env.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

export interface StackEnv {
  readonly redisUrl: string;
  readonly postgresUrl: string;
  readonly mongoUrl: string;
  readonly kafkaBrokers: readonly string[];
  /** `.stack` of this clone: pid files in `run/`, logs in `logs/`. */
  readonly stackDir: string;
  /** Everything else of the environment, passed on to child processes. */
  readonly env: Readonly<Record<string, string | undefined>>;
}

export function stackEnvFrom(env: Readonly<Record<string, string | undefined>>): StackEnv {
  const get = (name: string): string => {
    const value = env[name];
    if (value === undefined || value === '') {
      throw new Error(
        `${name} is not set: run benchmarks through scripts/bench, which starts the stack and exports it`,
      );
    }
    return value;
  };
  return {
    redisUrl: get('COMMSTRAT_REDIS_URL'),
    postgresUrl: get('COMMSTRAT_POSTGRES_URL'),
    mongoUrl: get('COMMSTRAT_MONGO_URL'),
    kafkaBrokers: get('COMMSTRAT_KAFKA_BROKERS').split(','),
    stackDir: dirname(get('COMMSTRAT_STACK_LOGS')),
    env,
  };
}

/** Pid of a stack service from the pid file `scripts/stack up` wrote, if it runs. */
export function servicePid(stack: StackEnv, service: string): number | undefined {
  try {
    const pid = Number(
      readFileSync(join(stack.stackDir, 'run', `${service}.pid`), 'utf8').split('\n')[0],
    );
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** `url` with its path (the database name) replaced. */
export function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}
