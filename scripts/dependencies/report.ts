// Prints the figures docs/dependencies.md quotes, offline: each direct production
// dependency (version, workspaces, packages it pulls in, licence), the size of the whole
// production tree, its licences and the packages with install scripts.
//   ./node_modules/.bin/node scripts/dependencies/report.ts
import { directDependencies, productionPackages, readLockfile } from './production-tree.ts';

const root = new URL('../../', import.meta.url).pathname;
const lock = readLockfile(root);
const all = productionPackages(root, lock);
const licence = new Map(all.map((pkg) => [pkg.path, pkg.license ?? 'none']));
for (const { name, version, workspaces, transitive } of directDependencies(root, lock)) {
  process.stdout.write(`${name}@${version}\t${licence.get(`node_modules/${name}`) ?? '?'}\tpulls in ${transitive}\t${workspaces.join(', ')}\n`);
}
const licences = new Map<string, number>();
for (const pkg of all) licences.set(pkg.license ?? 'none', (licences.get(pkg.license ?? 'none') ?? 0) + 1);
process.stdout.write(`\n${all.length} production packages; licences: ${[...licences].sort((a, b) => b[1] - a[1]).map(([name, n]) => `${n} ${name}`).join(', ')}\n`);
const scripted = all.filter((pkg) => pkg.hasInstallScript || Object.keys(pkg.installScripts).length > 0);
process.stdout.write(`install scripts: ${scripted.map((pkg) => `${pkg.name}@${pkg.version} ${JSON.stringify(pkg.installScripts)}`).join('; ') || 'none'}\n`);
const unhashed = all.filter((pkg) => !(pkg.integrity ?? '').startsWith('sha512-'));
process.stdout.write(`without a sha512 integrity: ${unhashed.map((pkg) => pkg.path).join(', ') || 'none'}\n`);
