import assert from 'node:assert/strict';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { eventually, stackEnv, uniqueName, unreachable } from './harness.ts';
import { startDeployment } from './services.ts';

interface Target {
  labels: Record<string, string>;
  health: string;
  lastScrape: string;
}

test('Prometheus scrapes /metrics of the ingest and dispatcher tiers', async (t) => {
  const { prometheusUrl, prometheusTargetsDir } = stackEnv();
  try {
    await fetch(`${prometheusUrl}/-/ready`);
  } catch (error) {
    throw unreachable('prometheus', prometheusUrl, error);
  }
  const deployment = await startDeployment();
  const accepted = await deployment.api('POST', '/v1/messages', {
    channel: 'sms',
    recipient: { phone: '+79161234567' },
    content: { text: 'metrics' },
  });
  assert.equal(accepted.status, 202);

  // Tell the stack's Prometheus about these two processes through its file_sd folder.
  const run = uniqueName('run');
  const file = join(prometheusTargetsDir, `${run}.json`);
  const hostPort = (url: string) => new URL(url).host;
  await writeFile(
    file,
    JSON.stringify([
      { targets: [hostPort(deployment.ingest.url)], labels: { tier: 'ingest', run } },
      { targets: [hostPort(deployment.dispatcher!.url)], labels: { tier: 'dispatcher', run } },
    ]),
  );
  t.after(() => rm(file, { force: true }));

  const scraped = await eventually(
    'Prometheus to scrape both tiers',
    async () => {
      const response = await fetch(`${prometheusUrl}/api/v1/targets?state=active`);
      const body = (await response.json()) as { data: { activeTargets: Target[] } };
      const mine = body.data.activeTargets.filter((target) => target.labels['run'] === run);
      return mine.length === 2 && mine.every((target) => target.health === 'up') ? mine : undefined;
    },
    30_000,
    250,
  );
  assert.deepEqual(scraped.map((target) => target.labels['tier']).sort(), ['dispatcher', 'ingest']);

  // The scraped samples are queryable: the accepted counter of this run's ingest.
  const accepted_total = await eventually(
    'the accepted counter to be stored',
    async () => {
      const query = encodeURIComponent(`sum(commstrat_messages_accepted_total{run="${run}"})`);
      const response = await fetch(`${prometheusUrl}/api/v1/query?query=${query}`);
      const body = (await response.json()) as { data: { result: { value: [number, string] }[] } };
      return body.data.result[0]?.value[1];
    },
    30_000,
    250,
  );
  assert.equal(accepted_total, '1');
});
