// Generated hostile Kafka records (fast-check, fixed seed) against a real ingest and
// broker: every one ends on the rejected topic with a reason, none is accepted, and a
// good record produced after them is accepted within seconds on every partition.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import type { IHeaders, KafkaMessage } from 'kafkajs';
import { eventually, fuzzSettings, testKafka } from './harness.ts';
import { header, kafkaIntakeEnv, kafkaIntakeNames, readRejected } from './kafka-support.ts';
import { startDeployment } from './services.ts';

const PARTITIONS = 3;
const MAX_BYTES = 64 * 1024;
/** Seeded (fixed in npm test), so a failure reproduces; scripts/fuzz runs more records. */
const { seed: SEED, examples: EXAMPLES } = fuzzSettings();

const message = (extra: object = {}) => ({ channel: 'sms', recipient: { phone: '+79161234567' }, content: { text: 'hello' }, ...extra });

/** `levels` of nesting as JSON text, objects, arrays or both in turn. */
const nested = (levels: number, kind: 'object' | 'array' | 'mixed') => {
  const open = (i: number) => (kind === 'array' || (kind === 'mixed' && i % 2 === 1) ? '[' : '{"a":');
  const close = (i: number) => (kind === 'array' || (kind === 'mixed' && i % 2 === 1) ? ']' : '}');
  let text = '1';
  for (let i = 0; i < levels; i += 1) text = `${open(i)}${text}${close(i)}`;
  return text;
};

interface Hostile {
  readonly kind: string;
  readonly value: Buffer | null;
  /** `key` stands for the test tenant's valid API key. */
  readonly headers: Readonly<Record<string, string | readonly string[]>>;
}

const withKey = { 'x-api-key': 'key' };

/** Items a batch envelope may carry, none of them acceptable. */
const hostileItem = fc.oneof(
  fc.constant(null),
  fc.string(),
  fc.integer(),
  fc.array(fc.integer(), { maxLength: 3 }),
  fc.constant(message({ recipient: { phone: '+7123' } })),
  fc.constant(message({ recipient: { phone: '+79161234567', time_zone: 'Nowhere/Atlantis' } })),
  fc.constant(message({ send_at: '2030-01-01T10:00:00Z', expires_at: '2030-01-01T09:00:00Z' })),
  fc.constant(message({ ttl: '60' })),
  fc.constant(message({ priority: 'asap' })),
  fc.constant({ messages: [message()] }),
);

const hostileRecord: fc.Arbitrary<Hostile> = fc.oneof(
  fc.uint8Array({ maxLength: 512 }).map((bytes) => ({ kind: 'random bytes', value: Buffer.from(bytes), headers: withKey })),
  fc.constant({ kind: 'no value', value: null, headers: withKey }),
  fc.integer({ min: MAX_BYTES + 1, max: MAX_BYTES * 4 }).map((size) => ({
    kind: 'huge value',
    value: Buffer.from(JSON.stringify(message({ content: { text: 'x'.repeat(size) } }))),
    headers: withKey,
  })),
  fc.constantFrom<BufferEncoding>('latin1', 'utf16le', 'ucs2').map((encoding) => ({
    kind: `text in ${encoding}`,
    value: Buffer.from(JSON.stringify(message({ content: { text: 'Grüße, café' } })), encoding),
    headers: withKey,
  })),
  fc
    .tuple(fc.integer({ min: 33, max: 5000 }), fc.constantFrom<'object' | 'array' | 'mixed'>('object', 'array', 'mixed'))
    .map(([levels, shape]) => ({
      kind: `${shape} nesting ${levels} deep`,
      value: Buffer.from(`{"channel":"sms","recipient":{"phone":"+79161234567"},"content":{"text":"x"},"metadata":${nested(levels, shape)}}`),
      headers: withKey,
    })),
  fc.integer({ min: 33, max: 5000 }).map((levels) => ({
    kind: `batch item nesting ${levels} deep`,
    value: Buffer.from(`{"messages":[${JSON.stringify(message())},${nested(levels, 'mixed')}]}`),
    headers: withKey,
  })),
  fc.constantFrom<Hostile['headers']>({}, { 'x-api-key': '' }, { 'x-api-key': 'cs_not_a_key' }, { 'X-API-KEY': 'cs_nope' }).map((headers) => ({
    kind: 'missing or bad API key',
    value: Buffer.from(JSON.stringify(message())),
    headers,
  })),
  fc.constantFrom<Hostile['headers']>({ 'x-api-key': ['key', 'key'] }, { 'x-api-key': ['key', 'cs_other'] }).map((headers) => ({
    kind: 'duplicated API key header',
    value: Buffer.from(JSON.stringify(message())),
    headers,
  })),
  fc.tuple(fc.array(hostileItem, { minLength: 1, maxLength: 20 }), fc.boolean()).map(([messages, atomic]) => ({
    kind: `batch envelope of ${messages.length} hostile items${atomic ? ', atomic' : ''}`,
    value: Buffer.from(JSON.stringify({ messages, atomic })),
    headers: withKey,
  })),
  fc.constant({ kind: 'surrogate escape', value: Buffer.from(JSON.stringify(message()).replace('hello', '\\udfff')), headers: withKey }),
);

test('generated hostile records all end on the rejected topic with a reason; good records after them pass on every partition', async () => {
  const names = kafkaIntakeNames();
  const { topic } = names;
  const deployment = await startDeployment({
    dispatcher: false,
    env: { ...kafkaIntakeEnv(names, PARTITIONS), INGEST_MAX_BODY_BYTES: String(MAX_BYTES) },
  });
  const { kafka, producer, own } = await testKafka([topic, names.rejectedTopic], [names.group, names.readerGroup]);
  const rejected = await readRejected(kafka, own, names);

  const hostile = fc.sample(hostileRecord, { seed: SEED, numRuns: EXAMPLES * 4 });
  const realHeaders = (headers: Hostile['headers']): IHeaders =>
    Object.fromEntries(
      Object.entries(headers).map(([name, value]) => {
        const swap = (v: string) => (v === 'key' ? deployment.apiKey : v);
        return [name, Array.isArray(value) ? value.map(swap) : swap(value as string)];
      }),
    );
  // One send per record: its offset is known exactly, and no produce request grows past
  // the broker's limit however many huge values the sample holds.
  const sent = new Map<string, string>();
  for (const [i, record] of hostile.entries()) {
    const partition = i % PARTITIONS;
    const [meta] = await producer.send({ topic, acks: -1, messages: [{ partition, value: record.value, headers: realHeaders(record.headers) }] });
    sent.set(`${partition}:${meta?.baseOffset ?? '?'}`, record.kind);
  }
  assert.equal(new Set([...sent.keys()].map((where) => where.split(':')[0])).size, PARTITIONS, 'hostile records on every partition');

  const started = Date.now();
  const good = await producer.send({
    topic,
    acks: -1,
    messages: Array.from({ length: PARTITIONS }, (_, partition) => ({
      partition,
      value: JSON.stringify(message({ content: { text: `good on ${partition}` } })),
      headers: { 'x-api-key': deployment.apiKey },
    })),
  });
  for (const { partition, baseOffset } of good) {
    const batchId = encodeURIComponent(`kafka:${topic}:${partition}:${baseOffset}`);
    await eventually(`the good record on partition ${partition} to be accepted`, async () => {
      const batch = await deployment.api('GET', `/v1/batches/${batchId}`);
      return batch.status === 200 && batch.body.accepted === 1 ? true : undefined;
    });
  }
  const acceptedAfterMs = Date.now() - started;
  assert.ok(acceptedAfterMs < 30_000, `good records accepted after ${acceptedAfterMs} ms`);

  await eventually('every hostile record on the rejected topic', () =>
    Promise.resolve(rejected.length >= hostile.length ? true : undefined),
  );
  const seen = new Map<string, KafkaMessage>();
  for (const record of rejected) {
    const where = `${header(record, 'x-source-partition')}:${header(record, 'x-source-offset')}`;
    assert.ok(sent.has(where), `a rejected record that was not sent: ${where}`);
    assert.equal(seen.has(where), false, `${where} (${sent.get(where)}) rejected twice`);
    seen.set(where, record);
    const code = header(record, 'x-error-code') ?? '';
    assert.ok(code !== '' && code !== 'internal', `${sent.get(where)}: a reason, not "${code}"`);
    assert.ok((header(record, 'x-error-message') ?? '') !== '', `${sent.get(where)}: a message`);
    assert.equal(header(record, 'x-api-key'), undefined, 'the API key is never copied');
  }
  for (const [where, kind] of sent) assert.ok(seen.has(where), `${kind} at ${where} never reached the rejected topic`);

  const listed = await deployment.api('GET', '/v1/messages?limit=1000');
  assert.deepEqual(
    listed.body.messages.map((m: { batch_id: string }) => m.batch_id).sort(),
    good.map(({ partition, baseOffset }) => `kafka:${topic}:${partition}:${baseOffset}`).sort(),
    'only the good records were accepted',
  );
});
