// Personal data and secrets never reach a log line in clear: the real ingest and
// dispatcher processes log at debug (the provider request bodies included) to stdout and
// to the stack's GELF receiver, and neither output may hold a clear value.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFile, stat } from 'node:fs/promises';
import { after, test } from 'node:test';
import { createSocket } from 'node:dgram';
import { ConfigError } from '@commstrat/core';
import { loadIngestConfig } from '@commstrat/ingest';
import { eventually, freePort, stackEnv, uniqueName } from './harness.ts';
import { startDeployment } from './services.ts';

const root = new URL('../../../', import.meta.url);

interface Gelf {
  short_message: string;
  full_message: string;
  [field: `_${string}`]: unknown;
}


/** Runs `node <script>` (or `-e`) from the repo root and collects its stdout. */
function run(
  args: string[],
  env: Record<string, string | undefined>,
): { stdout: () => string; exited: Promise<unknown> } {
  const child = spawn(process.execPath, args, {
    cwd: root,
    env,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
  const exited = once(child, 'exit');
  after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  return { stdout: () => out, exited };
}

/**
 * A UDP relay in front of the GELF receiver that notes what kind of datagrams pass:
 * chunked (GELF's magic bytes 0x1e 0x0f) and, in a first chunk, a zlib or gzip payload.
 */
async function gelfRelay(host: string, port: number) {
  const socket = createSocket('udp4');
  const seen = { plain: 0, compressed: 0, chunks: 0, compressedChunkSets: 0 };
  const isCompressed = (data: Buffer) => data[0] === 0x78 || (data[0] === 0x1f && data[1] === 0x8b);
  socket.on('message', (datagram) => {
    if (datagram[0] === 0x1e && datagram[1] === 0x0f) {
      seen.chunks += 1;
      if (datagram[10] === 0 && isCompressed(datagram.subarray(12))) seen.compressedChunkSets += 1;
    } else if (isCompressed(datagram)) seen.compressed += 1;
    else seen.plain += 1;
    socket.send(datagram, port, host);
  });
  socket.bind(0, '127.0.0.1');
  await once(socket, 'listening');
  after(() => socket.close());
  return { port: socket.address().port, seen };
}

/** GELF messages the receiver wrote after byte `from` of its output (this test's and others'). */
async function gelfSince(output: string, from: number): Promise<Gelf[]> {
  const text = (await readFile(output).catch(() => Buffer.alloc(0)))
    .subarray(from)
    .toString('utf8');
  return text
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Gelf);
}

function assertNoneIn(where: string, text: string, clear: readonly string[]): void {
  for (const value of clear) assert.ok(!text.includes(value), `${where} holds ${value} in clear`);
}

test('the real tiers mask phone numbers and message text on stdout and in GELF, chunked lines included', async () => {
  const { gelfHost, gelfPort, gelfOutput } = stackEnv();
  // Batches of 200: the provider request body at debug is large enough to go compressed in chunks.
  const deployment = await startDeployment({
    dispatcher: false,
    routing: { maxBatchSize: 200, lingerMs: 200, ratePerSecond: 100_000 },
  });
  const marker = uniqueName('mask');
  const from = (await stat(gelfOutput).catch(() => ({ size: 0 }))).size;
  const relay = await gelfRelay(gelfHost, gelfPort);
  const env = {
    ...deployment.env,
    COMMSTRAT_GELF_HOST: '127.0.0.1',
    COMMSTRAT_GELF_PORT: String(relay.port),
    COMMSTRAT_LOG_LEVEL: 'debug',
    // The dispatcher binds its consumer name to every line: this test's lines are told apart by it.
    DISPATCHER_CONSUMER: marker,
  };
  const ingestPort = await freePort();
  const ingest = run(['apps/ingest/src/main.ts'], { ...env, INGEST_PORT: String(ingestPort) });
  const dispatcher = run(['apps/dispatcher/src/main.ts'], env);
  const base = `http://127.0.0.1:${ingestPort}`;
  await eventually('the ingest process to listen', async () => {
    const response = await fetch(`${base}/health/live`).catch(() => undefined);
    return response?.ok === true ? true : undefined;
  });

  const phones = Array.from(
    { length: 200 },
    (_, i) => `+7916${String(1000000 + i).padStart(7, '0')}`,
  );
  const text = `confidential ${marker} code 4711`;
  const response = await fetch(`${base}/v1/messages/batch`, {
    method: 'POST',
    headers: { authorization: `Bearer ${deployment.apiKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      messages: phones.map((phone) => ({
        channel: 'sms',
        recipient: { phone },
        content: { text },
      })),
    }),
  });
  assert.equal(response.status, 202, await response.text());
  await eventually('the sandbox to receive every message', () =>
    Promise.resolve(
      deployment.sandbox.received.list({}).length >= phones.length ? true : undefined,
    ),
  );

  const exchange = await eventually(
    'the dispatcher to log a provider exchange to GELF',
    async () =>
      (await gelfSince(gelfOutput, from)).find(
        (line) => line.short_message === 'provider exchange' && line['_consumer'] === marker,
      ),
    15_000,
  );
  // The processes sent compressed chunk sets, and the receiver put them back together:
  // the exchange line, the largest, arrived whole (its request body parses below).
  assert.ok(
    relay.seen.compressedChunkSets > 0,
    `compressed chunked datagrams: ${JSON.stringify(relay.seen)}`,
  );
  assert.ok(relay.seen.plain > 0, 'short lines go as single plain datagrams');
  assert.equal(exchange['_provider'], 'sandbox-sms');
  assert.equal(exchange['_tenant_id'], deployment.tenantId);
  // The line's id is its provider exchange's: the journal finds the exchange, and the message.
  const exchangeId = String(exchange['_exchange_id']);
  assert.match(exchangeId, /^[0-9A-HJKMNP-TV-Z]{26}$/);
  const journaled = await eventually('the exchange in the journal', async () =>
    (await deployment.db.collection<{ _id: string; provider: string }>('provider_exchanges').findOne({ _id: exchangeId })) ?? undefined,
  );
  assert.equal(journaled.provider, `${deployment.tenantId}/sandbox-sms`);
  const request = JSON.parse(String(exchange['_request'])) as {
    messages: { to: string; text: string }[];
  };
  assert.equal(request.messages[0]?.to, `${phones[0]!.slice(0, 5)}*****${phones[0]!.slice(-2)}`);
  assert.equal(request.messages[0]?.text, `[masked, ${text.length} chars]`);

  const clear = [...phones, text, deployment.apiKey];
  // Every line received since the start: the ingest's and the dispatcher's alike.
  const gelf = (await gelfSince(gelfOutput, from)).map((line) => JSON.stringify(line)).join('\n');
  assertNoneIn('GELF', gelf, clear);
  await eventually('stdout to carry the provider request line', () =>
    Promise.resolve(dispatcher.stdout().includes('"provider request"') ? true : undefined),
  );
  assertNoneIn('dispatcher stdout', dispatcher.stdout(), clear);
  assertNoneIn('ingest stdout', ingest.stdout(), clear);
  assert.ok(dispatcher.stdout().includes('+7916*****'), 'stdout carries the masked form');
});

// What the tiers log today holds no e-mail address or credential, so a process configured
// the way the tiers are (their config schema, their logger) logs them itself.
const LOG_SCRIPT = `
import { loadIngestConfig } from '@commstrat/ingest';
import { closeLogger, tierLogger } from '@commstrat/observability';
const logger = tierLogger('ingest', loadIngestConfig(process.env));
const [marker, email, apiKey, secret] = process.argv.slice(1);
logger.child({ request_id: marker, authorization: 'Bearer ' + apiKey }).warn('callback to ' + email + ' refused', {
  recipient: { email },
  provider: { id: 'smtp', credentials: { user: 'mailer', password: secret } },
  headers: { 'x-api-key': apiKey },
  text: 'hello ' + marker,
});
await closeLogger(logger);
`;

async function logThroughTierLogger(env: Record<string, string | undefined>) {
  const { gelfHost, gelfPort, gelfOutput } = stackEnv();
  const marker = uniqueName('cred');
  const email = `${marker}@example.com`;
  const apiKey = `cs_${marker.replace(/\W/g, '')}${'k'.repeat(24)}`;
  const secret = `pw-${marker}`;
  const from = (await stat(gelfOutput).catch(() => ({ size: 0 }))).size;
  const child = run(['--input-type=module', '-e', LOG_SCRIPT, marker, email, apiKey, secret], {
    ...process.env,
    COMMSTRAT_GELF_HOST: gelfHost,
    COMMSTRAT_GELF_PORT: String(gelfPort),
    ...env,
  });
  const [code] = (await child.exited) as [number];
  assert.equal(code, 0);
  const gelf = await eventually(
    'the GELF line',
    async () =>
      // The marker shows in a field left in clear: the request id, or the e-mail when that is.
      (await gelfSince(gelfOutput, from)).find((line) => JSON.stringify(line).includes(marker)),
    10_000,
  );
  return { gelf, stdout: child.stdout(), email, apiKey, secret };
}

test('e-mail addresses and credentials are masked on stdout and in GELF by default', async () => {
  const { gelf, stdout, email, apiKey, secret } = await logThroughTierLogger({});
  assert.ok(stdout.includes('refused'), 'the line reached stdout');
  const clear = [email, apiKey, secret];
  assertNoneIn('stdout', stdout, clear);
  assertNoneIn('GELF', JSON.stringify(gelf), clear);
  assert.equal(gelf['_authorization'], '*****');
  assert.equal(gelf.short_message, `callback to ${email[0]}*****@example.com refused`);
  assert.deepEqual(gelf['_provider'], {
    id: 'smtp',
    credentials: { user: '*****', password: '*****' },
  });
});

test('masking is set per field: e-mail in clear, text hidden in full, credentials partial, extra fields hidden', async () => {
  const { gelf, stdout, email, apiKey, secret } = await logThroughTierLogger({
    COMMSTRAT_LOG_MASK_EMAIL: 'off',
    COMMSTRAT_LOG_MASK_TEXT: 'full',
    COMMSTRAT_LOG_MASK_CREDENTIALS: 'partial',
    COMMSTRAT_LOG_MASK_FIELDS: 'request_id',
  });
  assert.ok(stdout.includes(email), 'e-mail addresses are in clear when switched off');
  assert.equal(gelf['_text'], '[masked]');
  assert.deepEqual(gelf['_headers'], { 'x-api-key': `${apiKey.slice(0, 4)}*****` });
  assertNoneIn('stdout', stdout, [apiKey, secret]);
  assert.ok(!stdout.includes('"request_id":"cred'), 'an extra field is hidden');
});

test('an unknown masking mode stops the tier at start-up naming its variable', () => {
  assert.throws(
    () => loadIngestConfig({ ...process.env, COMMSTRAT_LOG_MASK_CREDENTIALS: 'off' }),
    (error: unknown) =>
      error instanceof ConfigError && error.message.includes('COMMSTRAT_LOG_MASK_CREDENTIALS'),
  );
});
