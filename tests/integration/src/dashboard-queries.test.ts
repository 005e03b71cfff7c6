// Every PromQL expression of the Grafana dashboard and of the alert rules, evaluated by the
// stack's real Prometheus after traffic has flowed through a real ingest and dispatcher:
// a typo in a metric or label name, or a metric renamed in code, fails here.
import assert from 'node:assert/strict';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { saveStrategy, upsertProvider } from '@commstrat/config';
import { parse } from 'yaml';
import { eventually, stackEnv, testKafka, uniqueName, unreachable } from './harness.ts';
import { setSandboxBehaviour, startDeployment } from './services.ts';

const root = new URL('../../../', import.meta.url);

interface Dashboard {
  panels: { title: string; type: string; targets?: { expr: string }[] }[];
}
interface Rules {
  groups: { rules: { alert: string; expr: string }[] }[];
}
interface QueryAnswer {
  status: string;
  error?: string;
  data?: { result: unknown[] };
}

/** Metric names an expression reads (the `up` series is Prometheus's own). */
function metricNames(expr: string): string[] {
  return [...new Set(expr.match(/\bcommstrat_\w+/g) ?? [])];
}

/** The exposed family a series name belongs to (`_bucket`, `_sum`, `_count` of a histogram). */
const family = (name: string) => name.replace(/_(bucket|sum|count)$/, '');

/**
 * Queries whose series exist only during an incident this test cannot cause without
 * disturbing the other tests on the shared stack; they must still evaluate and read
 * metrics that exist.
 */
const INCIDENT_ONLY = new Set([
  // Kafka records held back because Redis or MongoDB failed for this ingest.
  'sum by (reason) (rate(commstrat_kafka_retries_total{instance=~"$instance"}[$__rate_interval]))',
]);

test('every dashboard and alert expression evaluates in Prometheus, and each dashboard panel has series', async (t) => {
  const { prometheusUrl, prometheusTargetsDir } = stackEnv();
  const query = async (expr: string): Promise<QueryAnswer> => {
    const response = await fetch(`${prometheusUrl}/api/v1/query`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ query: expr }),
      // A query answers in milliseconds; one that hangs fails its probe, not the whole test.
      signal: AbortSignal.timeout(10_000),
    });
    return (await response.json()) as QueryAnswer;
  };
  await fetch(`${prometheusUrl}/-/ready`).catch((error: unknown) => {
    throw unreachable('prometheus', prometheusUrl, error);
  });

  // Kafka intake on a topic of this test's own, so the consumer-lag gauge has series.
  const [topic, rejectedTopic, group] = [
    uniqueName('in'),
    uniqueName('rejected'),
    uniqueName('group'),
  ];
  // A low provider rate makes the dispatcher wait for tokens; two attempts and a failing
  // provider make retries, dead letters and circuit changes; a circuit that opens at the
  // first failure sends the rest of the route to its second provider (failovers).
  const deployment = await startDeployment({
    routing: { ratePerSecond: 100, maxBatchSize: 20, lingerMs: 20 },
    env: {
      INGEST_KAFKA_ENABLED: 'true',
      INGEST_KAFKA_TOPIC: topic,
      INGEST_KAFKA_REJECTED_TOPIC: rejectedTopic,
      INGEST_KAFKA_GROUP: group,
      INGEST_KAFKA_TOPIC_PARTITIONS: '1',
      DISPATCHER_CIRCUIT_FAILURE_THRESHOLD: '1',
      DISPATCHER_CIRCUIT_OPEN_MS: '500',
    },
  });
  // After the deployment, so its ingest stops before the topics are deleted (see testKafka):
  // deleted first, they made its consumer crash and restart, and a restart racing the
  // disconnect can outlive the test.
  const { producer } = await testKafka([topic, rejectedTopic], [group]);
  const sandboxB = { id: 'sandbox-b', kind: 'http-sms', endpoint: deployment.sandbox.url };
  await upsertProvider(deployment.sql, deployment.tenantId, {
    ...sandboxB,
    credentials: { token: deployment.sandbox.token },
    ratePerSecond: 100,
    concurrency: 4,
    maxBatchSize: 20,
    lingerMs: 20,
    timeoutMs: 10_000,
  });
  await saveStrategy(
    deployment.sql,
    deployment.tenantId,
    {
      name: 'sms-default',
      channel: 'sms',
      steps: [
        {
          route: { mode: 'failover', providers: ['sandbox-sms', 'sandbox-b'] },
          retry: { max_attempts: 2, base_delay_ms: 100, max_delay_ms: 200 },
        },
      ],
    },
    { defaultForChannel: true },
  );
  await setSandboxBehaviour(deployment.sandbox, { error_rate: 0.3 });

  const run = uniqueName('run');
  const file = join(prometheusTargetsDir, `${run}.json`);
  const hostPort = (url: string) => new URL(url).host;
  const instances = [hostPort(deployment.ingest.url), hostPort(deployment.dispatcher!.url)];
  await writeFile(
    file,
    JSON.stringify([
      { targets: [instances[0]], labels: { tier: 'ingest', run } },
      { targets: [instances[1]], labels: { tier: 'dispatcher', run } },
    ]),
  );
  t.after(() => rm(file, { force: true }));

  // Traffic on every lane, a rejected message, and Kafka records.
  const priorities = ['critical', 'high', 'normal', 'bulk'];
  const messages = Array.from({ length: 200 }, (_, i) => ({
    channel: 'sms',
    priority: priorities[i % 4],
    recipient: { phone: `+4915${String(10000000 + i)}` },
    content: { text: `dashboard ${i}` },
  }));
  const accepted = await deployment.api('POST', '/v1/messages/batch', { messages });
  assert.equal(accepted.status, 202, JSON.stringify(accepted.body));
  const rejected = await deployment.api('POST', '/v1/messages', {
    channel: 'sms',
    recipient: {},
    content: {},
  });
  assert.equal(rejected.status, 422);
  await producer.send({
    topic,
    messages: [1, 2, 3].map((i) => ({
      value: JSON.stringify({
        channel: 'sms',
        recipient: { phone: '+491510000000' },
        content: { text: `kafka ${i}` },
      }),
      headers: { 'x-api-key': deployment.apiKey },
    })),
  });
  await producer.send({
    topic,
    messages: [{ value: 'not json', headers: { 'x-api-key': deployment.apiKey } }],
  });

  // The dashboard's variables as Grafana fills them: this run's two processes.
  const instanceRegex = instances.map((instance) => instance.replaceAll('.', '\\\\.')).join('|');
  const fill = (expr: string) =>
    expr.replaceAll('$instance', `(${instanceRegex})`).replaceAll('$__rate_interval', '20s');

  const dashboard = JSON.parse(
    await readFile(new URL('deploy/grafana/commstrat.json', root), 'utf8'),
  ) as Dashboard;
  const panels = dashboard.panels.filter((panel) => panel.type !== 'row');
  assert.ok(panels.length >= 25, 'the dashboard has its panels');
  const pending = new Map<string, string>();
  for (const panel of panels) {
    assert.ok((panel.targets ?? []).length > 0, `panel "${panel.title}" has a query`);
    for (const target of panel.targets ?? []) {
      if (INCIDENT_ONLY.has(target.expr)) {
        const answer = await query(fill(target.expr));
        assert.equal(answer.status, 'success', `${panel.title}: ${answer.error}`);
      } else {
        pending.set(`${panel.title}: ${target.expr}`, fill(target.expr));
      }
    }
  }

  // Series appear as the traffic is handled and scraped (every second); wait for each.
  const empty = new Set<string>();
  await eventually(
    'every dashboard query to return series',
    async () => {
      empty.clear();
      for (const [name, expr] of pending) {
        const answer = await query(expr);
        assert.equal(answer.status, 'success', `${name}: ${answer.error}`);
        if ((answer.data?.result.length ?? 0) === 0) empty.add(name);
        else pending.delete(name);
      }
      return pending.size === 0 ? true : undefined;
    },
    60_000,
    1000,
  ).catch((error: unknown) => {
    throw new Error(`dashboard queries without series:\n${[...empty].join('\n')}`, {
      cause: error,
    });
  });

  // Alert expressions normally return nothing (no alert fires): each must evaluate, and
  // every metric it reads must be one these processes expose.
  const exposed = await eventually('the targets metadata', async () => {
    const response = await fetch(
      `${prometheusUrl}/api/v1/targets/metadata?match_target=${encodeURIComponent(`{run="${run}"}`)}`,
      { signal: AbortSignal.timeout(10_000) },
    );
    const body = (await response.json()) as { data: { metric: string }[] };
    return body.data.length > 0 ? new Set(body.data.map((entry) => entry.metric)) : undefined;
  });
  const rules = parse(
    await readFile(new URL('deploy/prometheus/alerts.yml', root), 'utf8'),
  ) as Rules;
  const alerts = rules.groups.flatMap((group) => group.rules);
  assert.ok(alerts.length > 0);
  for (const alert of alerts) {
    const answer = await query(alert.expr);
    assert.equal(answer.status, 'success', `alert ${alert.alert}: ${answer.error}`);
    for (const name of metricNames(alert.expr)) {
      assert.ok(
        exposed.has(family(name)),
        `alert ${alert.alert} reads ${name}, which no process exposes`,
      );
    }
  }
  for (const panel of panels) {
    for (const target of panel.targets ?? []) {
      for (const name of metricNames(target.expr))
        assert.ok(exposed.has(family(name)), `panel "${panel.title}" reads unknown ${name}`);
    }
  }
});
