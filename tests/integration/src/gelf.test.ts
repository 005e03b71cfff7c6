import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { closeLogger, createLogger } from '@commstrat/observability';
import { eventually, stackEnv, uniqueName } from './harness.ts';

interface GelfLine {
  version: string;
  short_message: string;
  full_message: string;
  level: number;
  facility: string;
  [field: `_${string}`]: unknown;
}

async function findGelf(output: string, marker: string): Promise<GelfLine | undefined> {
  const text = await readFile(output, 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter((line) => line.includes(marker))
    .map((line) => JSON.parse(line) as GelfLine)[0];
}

test('log lines reach a GELF receiver with their bound ids as additional fields', async () => {
  const { gelfHost, gelfPort, gelfOutput } = stackEnv();
  const logger = createLogger({ service: 'ingest', console: false, gelf: { host: gelfHost, port: gelfPort } });
  const marker = uniqueName('log');
  logger.child({ request_id: 'req-1', tenant_id: 'acme', batch_id: 'b-1' }).warn(`accepted ${marker}`);
  await closeLogger(logger);

  const line = await eventually('the GELF receiver to write the line', () => findGelf(gelfOutput, marker), 10_000);
  assert.equal(line.version, '1.1');
  assert.equal(line.short_message, `accepted ${marker}`);
  assert.equal(line.level, 4, 'warn is syslog level 4');
  assert.equal(line.facility, 'ingest');
  assert.equal(line._request_id, 'req-1');
  assert.equal(line._tenant_id, 'acme');
  assert.equal(line._batch_id, 'b-1');
});

test('a long log line is sent compressed in chunks and arrives whole', async () => {
  const { gelfHost, gelfPort, gelfOutput } = stackEnv();
  const logger = createLogger({ service: 'dispatcher', console: false, gelf: { host: gelfHost, port: gelfPort } });
  const marker = uniqueName('big');
  // Random text does not compress, so this needs several UDP chunks.
  const payload = Array.from({ length: 4000 }, () => Math.random().toString(36).slice(2, 4)).join('');
  logger.info(`${marker} ${payload}`);
  await closeLogger(logger);
  const line = await eventually('the chunked GELF message', () => findGelf(gelfOutput, marker), 10_000);
  assert.equal(line.full_message, `${marker} ${payload}`);
});
