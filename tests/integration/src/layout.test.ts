// docs/architecture.md's "Code layout" block against the tree, so it cannot go stale:
// every workspace is listed, every one listed exists, every file it names exists in that
// workspace's src/. Offline: reads files only.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

const root = new URL('../../../', import.meta.url).pathname;

/** The block's entries: workspace path → the text that describes it. */
function layoutEntries(): Map<string, string> {
  const doc = readFileSync(join(root, 'docs/architecture.md'), 'utf8');
  const section = doc.slice(doc.indexOf('\n## Code layout\n'));
  assert.ok(section.length > 0, 'docs/architecture.md has a "## Code layout" section');
  const block = /```\n([\s\S]*?)```/.exec(section)?.[1] ?? '';
  const entries = new Map<string, string>();
  let current: string | undefined;
  for (const line of block.split('\n')) {
    const head = /^((?:apps|packages|tests)\/[\w-]+)\s*(.*)$/.exec(line);
    if (head?.[1] !== undefined) {
      current = head[1];
      entries.set(current, head[2] ?? '');
    } else if (current !== undefined) entries.set(current, `${entries.get(current) ?? ''} ${line.trim()}`);
  }
  return entries;
}

function workspaces(): string[] {
  return ['apps', 'packages', 'tests'].flatMap((group) =>
    readdirSync(join(root, group))
      .filter((name) => existsSync(join(root, group, name, 'package.json')))
      .map((name) => `${group}/${name}`),
  );
}

/** Every file and folder under `dir`, as paths relative to it. */
function tree(dir: string, prefix = ''): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = `${prefix}${entry.name}`;
    return entry.isDirectory() ? [`${path}/`, ...tree(join(dir, entry.name), `${path}/`)] : [path];
  });
}

test('every workspace is in the code layout of docs/architecture.md, and everything it lists exists', () => {
  const entries = layoutEntries();
  assert.ok(entries.size >= 10, `the layout block was read (${entries.size} entries)`);
  for (const workspace of workspaces()) assert.ok(entries.has(workspace), `${workspace} is missing from the code layout`);
  for (const workspace of entries.keys()) assert.ok(existsSync(join(root, workspace)), `the code layout lists ${workspace}, which does not exist`);
});

test('every file the code layout names exists in its workspace', () => {
  for (const [workspace, text] of layoutEntries()) {
    const src = join(root, workspace, 'src');
    if (!existsSync(src)) continue;
    const files = tree(src);
    // Names like `planner.ts`, `lua/*.lua`, `admin-*-routes.ts`, `definition/`.
    for (const [name] of text.matchAll(/[\w*.-]+(?:\/[\w*.-]*)*\.(?:ts|lua)\b|[\w-]+\/(?=\s|$)/g)) {
      const pattern = new RegExp(`(^|/)${name.replaceAll('.', '\\.').replaceAll('*', '[^/]*')}$`);
      assert.ok(files.some((file) => pattern.test(file)), `docs/architecture.md names ${name} in ${workspace}, which has no such file`);
    }
  }
});
