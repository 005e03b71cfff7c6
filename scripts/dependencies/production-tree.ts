// The production dependency tree, read offline from package-lock.json and node_modules:
// what `npm ci --omit=dev` installs for the workspaces that ship (deploy/docker/Dockerfile
// installs exactly that). Used by tests/integration/src/dependencies.test.ts, which holds
// it against docs/dependencies.md, and by `scripts/dependencies/report.ts`, which prints
// the figures the doc quotes. No registry is asked: `npm audit` cannot reach one here.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The workspaces whose code runs in a deployment (tests/* never does). */
export const SHIPPED_WORKSPACES = [
  'apps/cli',
  'apps/console',
  'apps/dispatcher',
  'apps/ingest',
  'apps/sandbox',
  'packages/config',
  'packages/core',
  'packages/egress',
  'packages/journal',
  'packages/lifecycle',
  'packages/observability',
  'packages/providers',
  'packages/queue',
  'packages/redrive',
  'packages/templates',
] as const;

interface LockEntry {
  readonly name?: string;
  readonly version?: string;
  readonly resolved?: string;
  readonly integrity?: string;
  readonly license?: string;
  readonly link?: boolean;
  readonly dev?: boolean;
  readonly hasInstallScript?: boolean;
  readonly dependencies?: Readonly<Record<string, string>>;
  readonly optionalDependencies?: Readonly<Record<string, string>>;
  readonly peerDependencies?: Readonly<Record<string, string>>;
  readonly peerDependenciesMeta?: Readonly<Record<string, { optional?: boolean }>>;
}

export interface Lockfile {
  readonly lockfileVersion: number;
  readonly packages: Readonly<Record<string, LockEntry>>;
}

/** One installed package of the production tree. */
export interface ProductionPackage {
  /** Its path in the lockfile (`node_modules/a/node_modules/b`). */
  readonly path: string;
  readonly name: string;
  readonly version: string;
  readonly resolved: string | undefined;
  readonly integrity: string | undefined;
  /** From its own package.json in node_modules (the lockfile's copy when not installed). */
  readonly license: string | undefined;
  readonly hasInstallScript: boolean;
  /** The install-time scripts its package.json declares (preinstall, install, postinstall). */
  readonly installScripts: Readonly<Record<string, string>>;
}

/** A direct production dependency: named in a shipped workspace's `dependencies`. */
export interface DirectDependency {
  readonly name: string;
  readonly version: string;
  readonly workspaces: readonly string[];
  /** Packages installed because of it alone or shared with others, itself excluded. */
  readonly transitive: number;
}

export function readLockfile(root: string): Lockfile {
  return JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')) as Lockfile;
}

/** The lockfile path a `require(name)` from the package at `from` resolves to (Node's lookup). */
function resolvePath(lock: Lockfile, from: string, name: string): string | undefined {
  for (let base = from; ; ) {
    const candidate = base === '' ? `node_modules/${name}` : `${base}/node_modules/${name}`;
    if (lock.packages[candidate] !== undefined) return candidate;
    if (base === '') return undefined;
    const cut = base.lastIndexOf('/node_modules/');
    base = cut >= 0 ? base.slice(0, cut) : '';
  }
}

/** A linked entry (a workspace) stands for the folder it links to. */
function target(lock: Lockfile, path: string): string {
  const entry = lock.packages[path];
  return entry?.link === true && entry.resolved !== undefined ? entry.resolved : path;
}

function requiredOf(entry: LockEntry): string[] {
  const peers = Object.keys(entry.peerDependencies ?? {}).filter((name) => entry.peerDependenciesMeta?.[name]?.optional !== true);
  return [...Object.keys(entry.dependencies ?? {}), ...Object.keys(entry.optionalDependencies ?? {}), ...peers];
}

/** Every path reachable from `start` (a package path), itself included. */
function closure(lock: Lockfile, start: string): Set<string> {
  const seen = new Set<string>();
  const queue = [start];
  while (queue.length > 0) {
    const path = target(lock, queue.pop() ?? '');
    if (seen.has(path)) continue;
    seen.add(path);
    const entry = lock.packages[path];
    if (entry === undefined) continue;
    for (const name of requiredOf(entry)) {
      const found = resolvePath(lock, path, name);
      if (found !== undefined) queue.push(found);
    }
  }
  return seen;
}

function isWorkspace(path: string): boolean {
  return !path.includes('node_modules/');
}

function nameOf(path: string): string {
  return path.slice(path.lastIndexOf('node_modules/') + 'node_modules/'.length);
}

function installedManifest(root: string, path: string): { license?: unknown; scripts?: Record<string, string> } | undefined {
  try {
    return JSON.parse(readFileSync(join(root, path, 'package.json'), 'utf8')) as { license?: unknown; scripts?: Record<string, string> };
  } catch {
    return undefined;
  }
}

const INSTALL_SCRIPTS = ['preinstall', 'install', 'postinstall'] as const;

/** Every package `npm ci --omit=dev` installs for the shipped workspaces (workspaces themselves excluded). */
export function productionPackages(root: string, lock: Lockfile = readLockfile(root)): ProductionPackage[] {
  const paths = new Set<string>();
  for (const workspace of SHIPPED_WORKSPACES) for (const path of closure(lock, workspace)) paths.add(path);
  return [...paths]
    .filter((path) => !isWorkspace(path))
    .sort()
    .map((path) => {
      const entry = lock.packages[path] ?? {};
      const manifest = installedManifest(root, path);
      const scripts = manifest?.scripts ?? {};
      const license = typeof manifest?.license === 'string' ? manifest.license : entry.license;
      return {
        path,
        name: entry.name ?? nameOf(path),
        version: entry.version ?? '',
        resolved: entry.resolved,
        integrity: entry.integrity,
        license,
        hasInstallScript: entry.hasInstallScript === true,
        installScripts: Object.fromEntries(INSTALL_SCRIPTS.flatMap((name) => (scripts[name] === undefined ? [] : [[name, scripts[name]]]))),
      };
    });
}

/** The direct production dependencies, with the workspaces naming them and what each pulls in. */
export function directDependencies(root: string, lock: Lockfile = readLockfile(root)): DirectDependency[] {
  const byName = new Map<string, { version: string; workspaces: string[]; paths: Set<string> }>();
  for (const workspace of SHIPPED_WORKSPACES) {
    const entry = lock.packages[workspace];
    for (const name of Object.keys(entry?.dependencies ?? {})) {
      const path = resolvePath(lock, workspace, name);
      if (path === undefined || isWorkspace(target(lock, path))) continue;
      const found = byName.get(name) ?? { version: lock.packages[path]?.version ?? '', workspaces: [], paths: new Set<string>() };
      found.workspaces.push(workspace);
      for (const reached of closure(lock, path)) if (reached !== path && !isWorkspace(reached)) found.paths.add(reached);
      byName.set(name, found);
    }
  }
  return [...byName]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, { version, workspaces, paths }]) => ({ name, version, workspaces, transitive: paths.size }));
}
