// The deployment files checked by the tools that read them: promtool for the alert rules,
// and every alert documented in the runbook of docs/operations.md.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { parse } from 'yaml';

const root = new URL('../../../', import.meta.url);
const run = promisify(execFile);

/** Runs a tool from the repository root; rejects with its output when it fails. */
async function tool(
  command: string,
  args: readonly string[],
  cwd = root.pathname,
): Promise<string> {
  try {
    const { stdout, stderr } = await run(command, args, { cwd, maxBuffer: 16 << 20 });
    return stdout + stderr;
  } catch (error) {
    const {
      stdout = '',
      stderr = '',
      code,
    } = error as { stdout?: string; stderr?: string; code?: unknown };
    if (code === 'ENOENT')
      throw new Error(`${command} is not installed: run scripts/stack up`, { cause: error });
    throw new Error(`${command} ${args.join(' ')} failed:\n${stdout}${stderr}`, { cause: error });
  }
}

const alertNames = async (): Promise<string[]> => {
  const rules = parse(await readFile(new URL('deploy/prometheus/alerts.yml', root), 'utf8')) as {
    groups: { rules: { alert: string }[] }[];
  };
  return rules.groups.flatMap((group) => group.rules.map((rule) => rule.alert));
};

test('promtool accepts the alert rules and their unit tests pass', async () => {
  const checked = await tool('promtool', ['check', 'rules', 'deploy/prometheus/alerts.yml']);
  assert.match(checked, new RegExp(`SUCCESS: ${(await alertNames()).length} rules found`));
  const tested = await tool(
    'promtool',
    ['test', 'rules', 'alerts.test.yml'],
    new URL('deploy/prometheus/', root).pathname,
  );
  assert.match(tested, /SUCCESS/);
});

test('every alert has a runbook entry in docs/operations.md, and every entry an alert', async () => {
  const operations = await readFile(new URL('docs/operations.md', root), 'utf8');
  const section = operations.split('## Alerts and what to do')[1]?.split(/\n## /)[0] ?? '';
  const entries = [...section.matchAll(/^### (\w+)$/gm)].map((match) => match[1]);
  const alerts = await alertNames();
  assert.deepEqual([...entries].sort(), [...alerts].sort());
  for (const alert of alerts) {
    const entry = section.split(`### ${alert}\n`)[1]?.split('\n### ')[0] ?? '';
    assert.match(entry, /\*\*Means:\*\*/, `${alert}: says what it means`);
    assert.match(entry, /\*\*Check:\*\*/, `${alert}: says what to check`);
  }
});
