// ESLint rule `commstrat/no-import-cycles`: no module may reach itself through its
// imports — relative ones and our own packages by name (`@commstrat/<name>` is its
// src/index.ts), type-only imports included. eslint-plugin-import's `no-cycle` skips
// type imports, so it missed two modules of ours that imported each other (one of the
// two edges a type); a cycle of types still ties the two files together for a reader.
// The imports of each file come from TypeScript's own pre-processor (no parse, no type
// check); the graph is read once per lint run and its cycles found with Tarjan's SCCs.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';

const root = resolve(dirname(new URL(import.meta.url).pathname), '../..');

/** `@commstrat/<name>` → its entry file, from the workspaces' package.json files. */
function workspaceEntries() {
  const entries = new Map();
  for (const group of ['apps', 'packages', 'tests']) {
    const folder = join(root, group);
    if (!existsSync(folder)) continue;
    for (const name of readdirSync(folder)) {
      const manifest = join(folder, name, 'package.json');
      if (!existsSync(manifest)) continue;
      const { name: packageName, exports } = JSON.parse(readFileSync(manifest, 'utf8'));
      const entry = typeof exports?.['.'] === 'string' ? exports['.'] : undefined;
      if (packageName !== undefined && entry !== undefined) entries.set(packageName, join(folder, name, entry));
    }
  }
  return entries;
}

let graph;

/** Every file reachable from `start`, with the files each imports (resolved, ours only). */
function importsOf(file, entries) {
  graph ??= new Map();
  const pending = [file];
  while (pending.length > 0) {
    const current = pending.pop();
    if (graph.has(current)) continue;
    let text = '';
    try {
      text = readFileSync(current, 'utf8');
    } catch {
      graph.set(current, []);
      continue;
    }
    const targets = [];
    for (const { fileName } of ts.preProcessFile(text, true, false).importedFiles) {
      const target = fileName.startsWith('.') ? resolve(dirname(current), fileName) : entries.get(fileName);
      if (target !== undefined && /\.ts$/.test(target) && existsSync(target)) targets.push(target);
    }
    graph.set(current, targets);
    pending.push(...targets);
  }
}

/** The strongly connected components of more than one file (or a file importing itself). */
function cycles() {
  const index = new Map();
  const low = new Map();
  const stack = [];
  const onStack = new Set();
  const found = new Map();
  let next = 0;
  const visit = (file) => {
    index.set(file, next);
    low.set(file, next);
    next += 1;
    stack.push(file);
    onStack.add(file);
    for (const target of graph.get(file) ?? []) {
      if (!index.has(target)) {
        visit(target);
        low.set(file, Math.min(low.get(file), low.get(target)));
      } else if (onStack.has(target)) low.set(file, Math.min(low.get(file), index.get(target)));
    }
    if (low.get(file) !== index.get(file)) return;
    const component = [];
    let member;
    do {
      member = stack.pop();
      onStack.delete(member);
      component.push(member);
    } while (member !== file);
    if (component.length > 1 || (graph.get(file) ?? []).includes(file)) for (const m of component) found.set(m, component);
  };
  for (const file of graph.keys()) if (!index.has(file)) visit(file);
  return found;
}

let entries;
let components;

export default {
  meta: {
    type: 'problem',
    docs: { description: 'forbid import cycles between our modules, type imports included' },
    schema: [],
    messages: { cycle: 'This import closes a cycle ({{path}}): move what both sides need to a third module.' },
  },
  create(context) {
    const file = context.filename;
    entries ??= workspaceEntries();
    if (graph === undefined || !graph.has(file)) {
      importsOf(file, entries);
      components = cycles();
    }
    const component = components.get(file);
    if (component === undefined) return {};
    const members = new Set(component);
    const check = (node) => {
      const source = node.source?.value;
      if (typeof source !== 'string') return;
      const target = source.startsWith('.') ? resolve(dirname(file), source) : entries.get(source);
      if (target === undefined || !members.has(target)) return;
      const path = [file, target].map((f) => relative(root, f)).join(' → ') + ' → …';
      context.report({ node, messageId: 'cycle', data: { path } });
    };
    return { ImportDeclaration: check, ExportNamedDeclaration: check, ExportAllDeclaration: check };
  },
};
