// The production dependencies against docs/dependencies.md, offline (no registry, no
// server): a direct dependency the doc does not list (or lists at another version), an
// install script nobody decided on, a licence outside the accepted ones or a package
// without an integrity hash in the lockfile fails here, before it ships.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { directDependencies, productionPackages, readLockfile } from '../../../scripts/dependencies/production-tree.ts';

const root = new URL('../../../', import.meta.url).pathname;
const doc = readFileSync(new URL('docs/dependencies.md', `file://${root}`), 'utf8');

/** The rows of the markdown table under `## <heading>`: cells, backticks removed. */
function tableRows(heading: string): string[][] {
  const start = doc.indexOf(`\n## ${heading}\n`);
  assert.ok(start >= 0, `docs/dependencies.md has a "## ${heading}" section`);
  const end = doc.indexOf('\n## ', start + 1);
  const section = doc.slice(start, end < 0 ? undefined : end);
  return section
    .split('\n')
    .filter((line) => line.startsWith('|') && !/^\|\s*-/.test(line))
    .slice(1) // the header
    .map((line) => line.slice(1, -1).split('|').map((cell) => cell.trim().replaceAll('`', '')));
}

/** Licences whose terms allow shipping the service as it is; anything else is a decision. */
const ACCEPTED_LICENCES = new Set(['MIT', 'MIT-0', 'ISC', 'Apache-2.0', 'BSD-2-Clause', 'BSD-3-Clause', '0BSD', 'Unlicense']);

test('every direct production dependency is listed in docs/dependencies.md with its lockfile version, and nothing else is', () => {
  const listed = new Map(tableRows('Production dependencies').map(([name = '', version = '']) => [name, version]));
  const actual = directDependencies(root);
  for (const { name, version, workspaces } of actual) {
    assert.ok(listed.has(name), `${name}@${version} (a dependency of ${workspaces.join(', ')}) is not listed in docs/dependencies.md: add why it is needed`);
    assert.equal(listed.get(name), version, `docs/dependencies.md lists ${name} at ${listed.get(name)}, the lockfile has ${version}`);
  }
  const names = new Set(actual.map(({ name }) => name));
  for (const name of listed.keys()) assert.ok(names.has(name), `docs/dependencies.md lists ${name}, which no shipped workspace depends on any more`);
});

test('every production package with an install script has a decision in allowScripts and in docs/dependencies.md', () => {
  const manifest = JSON.parse(readFileSync(`${root}package.json`, 'utf8')) as { allowScripts?: Record<string, boolean> };
  const decided = new Map(tableRows('Install scripts').map(([name = '', , decision = '']) => [name, decision]));
  for (const pkg of productionPackages(root)) {
    if (!pkg.hasInstallScript && Object.keys(pkg.installScripts).length === 0) continue;
    const allowed = manifest.allowScripts?.[pkg.name];
    assert.notEqual(allowed, undefined, `${pkg.name}@${pkg.version} runs ${JSON.stringify(pkg.installScripts)} on install: decide in package.json "allowScripts"`);
    assert.ok(decided.has(pkg.name), `${pkg.name}'s install script is not in docs/dependencies.md "Install scripts"`);
    assert.equal(decided.get(pkg.name), allowed === true ? 'approved' : 'denied', `docs/dependencies.md and allowScripts disagree on ${pkg.name}`);
  }
});

test('every production package has an accepted licence and a sha512 integrity hash in the lockfile', () => {
  const lock = readLockfile(root);
  assert.equal(lock.lockfileVersion, 3);
  const packages = productionPackages(root, lock);
  assert.ok(packages.length > 50, `the production tree was read (${packages.length} packages)`);
  for (const pkg of packages) {
    assert.ok(ACCEPTED_LICENCES.has(pkg.license ?? ''), `${pkg.path}@${pkg.version} is licensed ${pkg.license ?? 'without a licence field'}`);
    assert.match(pkg.integrity ?? '', /^sha512-[A-Za-z0-9+/]{86}==$/, `${pkg.path} has no sha512 integrity in package-lock.json`);
  }
});
