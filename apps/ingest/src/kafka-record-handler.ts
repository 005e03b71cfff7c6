import { CommstratError, DEFAULT_MAX_JSON_DEPTH, DependencyUnavailableError, ForbiddenError, UnauthorizedError } from '@commstrat/core';
import type { Tenant, TenantCache } from '@commstrat/config';
import type { IngestMetrics, Logger } from '@commstrat/observability';
import type { KafkaMessage, Message as OutgoingRecord, Producer } from 'kafkajs';
import type { Intake } from './intake.ts';
import {
  API_KEY_HEADER,
  everyItemRejected,
  headerCount,
  headerText,
  parseRecordValue,
  recordBatchId,
  OWN_HEADERS,
  rejectedRecord,
  type RecordSource,
} from './kafka-records.ts';

export interface KafkaRecordHandlerDeps {
  readonly intake: Pick<Intake, 'acceptBatch'>;
  readonly tenants: Pick<TenantCache, 'tenantForKey'>;
  /** Writes to the rejected topic. */
  readonly producer: Pick<Producer, 'send'>;
  readonly metrics: IngestMetrics;
  readonly logger: Logger;
}

export interface KafkaRecordHandlerOptions {
  readonly rejectedTopic: string;
  /** Largest record value, in bytes; larger records are rejected. */
  readonly maxBodyBytes: number;
  /** Most messages in one batch envelope. */
  readonly maxBatchMessages: number;
  /** Deepest nesting of objects and arrays in a record value. Default DEFAULT_MAX_JSON_DEPTH (32). */
  readonly maxJsonDepth?: number;
}

/**
 * What one Kafka record comes to: its messages accepted through `Intake` (the bad items
 * of a batch each written to the rejected topic), or the whole record rejected. Throws
 * only what is worth retrying in place: a retryable CommstratError (a dependency is
 * down, the lanes are full) or an unexpected error.
 */
export class KafkaRecordHandler {
  private readonly deps: KafkaRecordHandlerDeps;
  private readonly options: KafkaRecordHandlerOptions;
  private readonly logger: Logger;

  constructor(deps: KafkaRecordHandlerDeps, options: KafkaRecordHandlerOptions) {
    this.deps = deps;
    this.options = options;
    this.logger = deps.logger;
  }

  async handle(record: KafkaMessage, source: RecordSource): Promise<void> {
    const batchId = recordBatchId(source);
    const logger = this.logger.child({ kafka_partition: source.partition, kafka_offset: source.offset, batch_id: batchId });
    let tenant: Tenant | undefined;
    try {
      tenant = await this.authenticate(record);
      const { maxBodyBytes: maxBytes, maxBatchMessages, maxJsonDepth: maxDepth = DEFAULT_MAX_JSON_DEPTH } = this.options;
      const limits = { maxBytes, maxDepth, maxBatchMessages };
      const request = parseRecordValue(record.value, limits);
      const outcome = await this.deps.intake.acceptBatch(tenant, 'kafka', request.items, {
        batchId,
        atomic: request.atomic,
        rawBody: request.body,
      });
      const context = { tenantId: tenant.id };
      if (outcome.accepted.length === 0 && outcome.rejected.length > 0) {
        await this.reject(logger, [rejectedRecord(record, source, everyItemRejected(outcome.rejected), context)]);
        return;
      }
      if (outcome.rejected.length > 0) {
        // Validation leaves the items as sent (no defaults filled in), so the rejected
        // topic gets each one as it came.
        const { items } = request;
        // Replayed too: an earlier delivery may have died before writing these.
        await this.reject(
          logger,
          outcome.rejected.map(({ index, error }) =>
            rejectedRecord(record, source, error, { ...context, item: { index, value: items[index] } }),
          ),
        );
      }
      logger.info(outcome.replayed ? 'Kafka record was already accepted (redelivered)' : 'Kafka record accepted', {
        tenant_id: tenant.id,
        accepted: outcome.accepted.length,
        rejected: outcome.rejected.length,
      });
    } catch (error) {
      if (!(error instanceof CommstratError) || error.retryable) throw error;
      const context = tenant === undefined ? {} : { tenantId: tenant.id };
      await this.reject(logger, [rejectedRecord(record, source, error.toJSON().error, context)]);
    }
  }

  /** The tenant whose API key the record carries, checked like REST's bearer token. */
  private async authenticate(record: KafkaMessage): Promise<Tenant> {
    // Two keys leave it open which tenant sends: refuse rather than pick one.
    const copies = headerCount(record.headers, API_KEY_HEADER);
    if (copies > 1) throw new UnauthorizedError(`the "${API_KEY_HEADER}" record header is given ${copies} times; send it once`);
    const apiKey = headerText(record.headers, API_KEY_HEADER);
    if (apiKey === undefined || apiKey === '') {
      throw new UnauthorizedError(`missing API key: send it in the "${API_KEY_HEADER}" record header`);
    }
    let tenant: Tenant | null;
    try {
      tenant = await this.deps.tenants.tenantForKey(apiKey);
    } catch (cause) {
      throw new DependencyUnavailableError('tenants (PostgreSQL)', cause);
    }
    if (tenant === null) throw new UnauthorizedError('API key is not valid or was revoked');
    // A key looked up without scopes (a test's stand-in) is let through: only a key known
    // to lack `send` is refused, as REST refuses it.
    if (tenant.scopes !== undefined && !tenant.scopes.includes('send')) throw new ForbiddenError('send');
    return tenant;
  }

  /**
   * Writes rejected records and waits for every in-sync replica to have them. The
   * broker refuses a record (or a send's batch) over its size limit for good, so
   * retrying that would stall the partition: the records then go one at a time, and one
   * that is still too large goes without its value (see withoutValue).
   */
  private async reject(logger: Logger, records: readonly OutgoingRecord[]): Promise<void> {
    if (records.length === 0) return;
    const send = (messages: OutgoingRecord[]) => this.deps.producer.send({ topic: this.options.rejectedTopic, messages, acks: -1 });
    try {
      await send([...records]);
    } catch (error) {
      if (!isTooLarge(error)) throw error;
      for (const record of records) {
        await sendShrinking(send, record, logger);
      }
    }
    for (const record of records) {
      const code = headerText(record.headers, 'x-error-code') ?? 'internal';
      this.deps.metrics.kafkaRecordRejected(code);
      logger.info('Kafka record rejected', {
        code,
        path: headerText(record.headers, 'x-error-path'),
        item_index: headerText(record.headers, 'x-item-index'),
      });
    }
  }
}

/**
 * The broker's answer to a record or batch over `message.max.bytes`: no retry makes it
 * fit. Told by the protocol error's type (kafkajs's error classes are not named exports
 * of its CommonJS module, so `instanceof` is not at hand).
 */
function isTooLarge(error: unknown): boolean {
  return error instanceof Error && (error as { type?: unknown }).type === 'MESSAGE_TOO_LARGE';
}

function byteLength(value: OutgoingRecord['value']): number {
  if (value === null || value === undefined) return 0;
  return typeof value === 'string' ? Buffer.byteLength(value) : value.length;
}

/**
 * Sends one rejected record, leaving out what the topic cannot take: first its value
 * (its size said in `x-value-omitted-bytes`; the reason, the source offset and the
 * producer's headers stay, so the original can be read from the source topic while it
 * is retained), then its key and the producer's headers, keeping only ours.
 */
async function sendShrinking(send: (messages: OutgoingRecord[]) => Promise<unknown>, record: OutgoingRecord, logger: Logger): Promise<void> {
  const omitted = { 'x-value-omitted-bytes': String(byteLength(record.value)) };
  const ours = Object.fromEntries(Object.entries(record.headers ?? {}).filter(([name]) => OWN_HEADERS.has(name)));
  const attempts: OutgoingRecord[] = [
    record,
    { ...record, value: null, headers: { ...record.headers, ...omitted } },
    { value: null, headers: { ...ours, ...omitted } },
  ];
  for (const [i, attempt] of attempts.entries()) {
    try {
      await send([attempt]);
      return;
    } catch (error) {
      if (!isTooLarge(error) || i === attempts.length - 1) throw error;
      logger.warn('rejected record too large for the rejected topic; leaving part of it out', { value_bytes: byteLength(record.value) });
    }
  }
}
