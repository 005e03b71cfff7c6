import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

/** What `GET /info` answers: which build, since when, as which replica, with which settings. */
export interface ProcessInfo {
  readonly service: string;
  /** `version` of the app's package.json. */
  readonly version: string;
  /** The commit of the checkout the process runs from, read once at start-up; null outside a git checkout. */
  readonly git_commit: string | null;
  readonly started_at: string;
  readonly replica_id: string;
  /**
   * A hash of the settings the process parsed at start-up (credentials left out), so two
   * replicas can be told apart by configuration. Tenant routing lives in PostgreSQL,
   * versioned per strategy, and is not part of it.
   */
  readonly config_version: string;
}

/** Builds the process's info once; `packageJson` is the app's package.json URL. */
export function processInfo(options: {
  readonly service: string;
  readonly packageJson: URL;
  readonly settings: object;
  readonly replicaId?: string;
}): ProcessInfo {
  const manifest = JSON.parse(readFileSync(options.packageJson, 'utf8')) as { version?: unknown };
  return Object.freeze({
    service: options.service,
    version: typeof manifest.version === 'string' ? manifest.version : '0.0.0',
    git_commit: gitCommit(dirname(fileURLToPath(options.packageJson))),
    started_at: new Date().toISOString(),
    replica_id: options.replicaId ?? `${hostname()}-${process.pid}`,
    config_version: settingsHash(options.settings),
  });
}

/** HEAD of the checkout at `dir`, or null (no git, not a checkout, no answer within 2 s). */
function gitCommit(dir: string): string | null {
  const result = spawnSync('git', ['rev-parse', 'HEAD'], { cwd: dir, encoding: 'utf8', timeout: 2000, stdio: ['ignore', 'pipe', 'ignore'] });
  const commit = result.status === 0 ? result.stdout.trim() : '';
  return /^[0-9a-f]{40,64}$/.test(commit) ? commit : null;
}

const SECRET_FIELD = /token|password|secret|key/i;

/** sha256 of the settings, keys sorted; secret fields dropped and URL credentials cut, so the hash reveals none. */
export function settingsHash(settings: object): string {
  const visible = Object.entries(settings)
    .filter(([name]) => !SECRET_FIELD.test(name))
    .map(([name, value]) => [name, typeof value === 'string' ? value.replace(/\/\/[^/@]*@/, '//') : value] as const)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `sha256:${createHash('sha256').update(JSON.stringify(visible)).digest('hex').slice(0, 16)}`;
}
