// The deployment files checked by the tools that read them: promtool for the alert rules
// (and every alert documented in the runbook of docs/operations.md), kubeconform for the
// Kubernetes manifests, docker-compose for the compose file, systemd-analyze for the units.
// scripts/stack up installs the tools (scripts/lib/deploy-tools).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { parse, parseAllDocuments } from 'yaml';

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

/** The deploy tools' locations, as `scripts/stack env` exports them (scripts/lib/deploy-tools). */
function deployTools(): { kubeconform: string; schemas: string; versions: string[] } {
  const {
    COMMSTRAT_KUBECONFORM: kubeconform,
    COMMSTRAT_K8S_SCHEMAS: schemas,
    COMMSTRAT_K8S_VERSIONS: versions,
  } = process.env;
  if (kubeconform === undefined || schemas === undefined || versions === undefined) {
    throw new Error(
      'COMMSTRAT_KUBECONFORM is not set: run the tests with `npm test`, which exports `scripts/stack env`',
    );
  }
  return { kubeconform, schemas, versions: versions.split(',') };
}

const MANIFESTS = [
  'deploy/kubernetes',
  'deploy/kubernetes/examples',
  'deploy/kubernetes/monitoring',
];

async function kubeconform(
  version: string,
  files: readonly string[],
  stdin?: string,
): Promise<string> {
  const { kubeconform: bin, schemas } = deployTools();
  const args = [
    '-strict',
    '-summary',
    '-kubernetes-version',
    version.replace(/^v/, ''),
    // Kubernetes' own kinds, then the custom resources whose schemas live in the repository.
    '-schema-location',
    `${schemas}/{{ .NormalizedKubernetesVersion }}-standalone-strict/{{ .ResourceKind }}{{ .KindSuffix }}.json`,
    '-schema-location',
    'deploy/kubernetes/schemas/{{ .Group }}/{{ .ResourceKind }}_{{ .ResourceAPIVersion }}.json',
    ...files,
  ];
  if (stdin === undefined) return tool(bin, args);
  return new Promise((resolve, reject) => {
    const child = execFile(bin, args, { cwd: root.pathname }, (error, stdout, stderr) =>
      error === null
        ? resolve(stdout + stderr)
        : reject(new Error(stdout + stderr, { cause: error })),
    );
    child.stdin?.end(stdin);
  });
}

test('every Kubernetes manifest is valid against the schemas of the oldest and newest supported Kubernetes', async () => {
  const files: string[] = [];
  for (const folder of MANIFESTS) {
    for (const name of await readdir(new URL(`${folder}/`, root)))
      if (name.endsWith('.yaml')) files.push(`${folder}/${name}`);
  }
  const resources = files.length;
  for (const version of deployTools().versions) {
    const summary = await kubeconform(version, files);
    // Nothing skipped and nothing without a schema: every kind was checked.
    assert.match(
      summary,
      new RegExp(
        `Summary: \\d+ resources found in ${resources} files - Valid: \\d+, Invalid: 0, Errors: 0, Skipped: 0`,
      ),
      summary,
    );
  }
});

test('the dispatcher is scaled by KEDA on lane lag and both tiers have a PodDisruptionBudget', async () => {
  const documents = async (file: string) =>
    parseAllDocuments(await readFile(new URL(file, root), 'utf8')).map(
      (document) => document.toJS() as Record<string, any>,
    );
  const [scaler] = await documents('deploy/kubernetes/45-dispatcher-autoscaler.yaml');
  assert.equal(scaler?.['kind'], 'ScaledObject');
  assert.equal(scaler?.['spec'].scaleTargetRef.name, 'commstrat-dispatcher');
  assert.match(scaler?.['spec'].triggers[0].metadata.query, /commstrat_lane_lag_seconds/);
  const dispatcher = await documents('deploy/kubernetes/40-dispatcher.yaml');
  assert.equal(
    dispatcher[0]?.['spec'].replicas,
    undefined,
    'the autoscaler owns the replica count',
  );
  const ingest = await documents('deploy/kubernetes/30-ingest.yaml');
  for (const [tier, docs] of [
    ['dispatcher', dispatcher],
    ['ingest', ingest],
  ] as const) {
    const pdb = docs.find((doc) => doc['kind'] === 'PodDisruptionBudget');
    assert.equal(pdb?.['spec'].selector.matchLabels['app.kubernetes.io/component'], tier);
  }
});

test('the validation fails on a misspelt field, a wrong type and a numeric KEDA threshold', async () => {
  const [version] = deployTools().versions;
  const dispatcher = await readFile(new URL('deploy/kubernetes/40-dispatcher.yaml', root), 'utf8');
  const scaler = await readFile(
    new URL('deploy/kubernetes/45-dispatcher-autoscaler.yaml', root),
    'utf8',
  );
  const broken = [
    dispatcher.replace('revisionHistoryLimit: 5', 'revisionHistoryLimit: 5\n  replicaz: 3'),
    dispatcher.replace('containerPort: 8081', "containerPort: 'eighty-eighty-one'"),
    scaler.replace("threshold: '30'", 'threshold: 30'),
    scaler.replace('minReplicaCount: 2', 'minReplicas: 2'),
  ];
  // The unbroken files pass the same way (from stdin), so a rejection below is the change's.
  assert.match(await kubeconform(version!, ['-'], dispatcher), /Valid: 2, Invalid: 0, Errors: 0/);
  assert.match(await kubeconform(version!, ['-'], scaler), /Valid: 1, Invalid: 0, Errors: 0/);
  for (const manifest of broken) {
    assert.notEqual(manifest, dispatcher);
    await assert.rejects(
      kubeconform(version!, ['-'], manifest),
      /is invalid: .*(replicaz|containerPort|threshold|minReplicas)/,
    );
  }
});

/** Runs `docker-compose config` on a compose file given as text (the repo's, or a broken copy). */
async function composeConfig(text: string, quiet: boolean): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'compose-'));
  try {
    // The bind mounts are relative to the file: keep it at the repository root's paths.
    const file = join(dir, 'docker-compose.yml');
    await writeFile(file, text.replaceAll('./deploy/', `${new URL('deploy/', root).pathname}`));
    return await tool('docker-compose', [
      '-f',
      file,
      '--project-directory',
      root.pathname,
      'config',
      ...(quiet ? ['-q'] : []),
    ]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('docker-compose accepts the compose file, which runs Graylog with OpenSearch and MongoDB and Grafana with the dashboard', async () => {
  const text = await readFile(new URL('docker-compose.yml', root), 'utf8');
  assert.equal(await tool('docker-compose', ['-f', 'docker-compose.yml', 'config', '-q']), '');
  const config = parse(await composeConfig(text, false)) as {
    services: Record<
      string,
      {
        environment?: Record<string, string>;
        volumes?: (string | { source: string; target: string })[];
        depends_on?: object;
      }
    >;
  };
  for (const service of [
    'graylog',
    'opensearch',
    'graylog-mongodb',
    'grafana',
    'prometheus',
    'ingest',
    'dispatcher',
  ]) {
    assert.ok(config.services[service], `service ${service}`);
  }
  assert.equal(
    config.services['graylog']?.environment?.['GRAYLOG_ELASTICSEARCH_HOSTS'],
    'http://opensearch:9200',
  );
  assert.match(
    config.services['graylog']?.environment?.['GRAYLOG_MONGODB_URI'] ?? '',
    /graylog-mongodb:27017/,
  );
  assert.equal(config.services['dispatcher']?.environment?.['COMMSTRAT_GELF_HOST'], 'graylog');
  // docker-compose 1.x prints bind mounts as `source:target:mode`, 2.x as objects.
  const mounts = new Map(
    (config.services['grafana']?.volumes ?? []).map((volume) => {
      if (typeof volume !== 'string') return [volume.target, volume.source] as const;
      const [source = '', target = ''] = volume.split(':');
      return [target, source] as const;
    }),
  );
  const provisioning = mounts.get('/etc/grafana/provisioning');
  const dashboards = mounts.get('/var/lib/grafana/dashboards/commstrat');
  assert.ok(
    provisioning !== undefined && dashboards !== undefined,
    'Grafana mounts its provisioning and the dashboard',
  );
  // The provisioning's dashboard provider reads the folder the dashboard is mounted at.
  const provider = await readFile(join(provisioning, 'dashboards/commstrat.yml'), 'utf8');
  assert.match(provider, /path: \/var\/lib\/grafana\/dashboards\/commstrat/);
  JSON.parse(await readFile(join(dashboards, 'commstrat.json'), 'utf8'));
  // The check can fail: a misspelt key is refused.
  await assert.rejects(
    composeConfig(
      text.replace('    depends_on:\n      - prometheus', '    depend_on:\n      - prometheus'),
      true,
    ),
    /depend_on/,
  );
});

test('systemd-analyze verify passes the units without a warning', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'units-'));
  try {
    const units = (await readdir(new URL('deploy/systemd/', root))).filter((name) =>
      name.endsWith('.service'),
    );
    const names: string[] = [];
    // systemd-analyze checks that ExecStart's program exists: where Node.js is elsewhere
    // than the units expect, the copies point at the one running this test.
    const node = existsSync('/usr/bin/node') ? '/usr/bin/node' : process.execPath;
    for (const unit of units) {
      const text = (await readFile(new URL(`deploy/systemd/${unit}`, root), 'utf8')).replaceAll(
        '/usr/bin/node',
        node,
      );
      // A template is verified as an instance of it.
      const name = unit.replace('@.service', '@1.service');
      await writeFile(join(dir, name), text);
      names.push(`./${name}`);
    }
    assert.ok(names.length >= 3);
    // Unknown keys and bad values are warnings with exit code 0: any output fails the check.
    assert.equal(await tool('systemd-analyze', ['verify', ...names], dir), '');
    await writeFile(
      join(dir, 'broken.service'),
      units.length > 0
        ? (await readFile(join(dir, names[0]!), 'utf8')).replace('RestartSec=', 'RestartSecs=')
        : '',
    );
    assert.match(
      await tool('systemd-analyze', ['verify', './broken.service'], dir),
      /Unknown key 'RestartSecs'/,
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
