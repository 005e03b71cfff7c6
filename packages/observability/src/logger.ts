import { Writable } from 'node:stream';
import winston from 'winston';
import Graylog2Transport from 'winston-graylog2';
import { createMasker, maskRecord, type MaskingOptions } from './masking.ts';

/** Fields bound to a logger or given to one line: ids, counts, an error's text. */
export type LogFields = Readonly<Record<string, unknown>>;

export type LogLevel = 'error' | 'warn' | 'info' | 'debug';

/**
 * The service's logger: what app code logs through. winston (and GELF) stay behind it in
 * this package, so no module outside it depends on winston's API.
 */
export interface Logger {
  error(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  debug(message: string, fields?: LogFields): void;
  /** A line at a level known only at run time (another library's log, relayed). */
  log(level: LogLevel, message: string, fields?: LogFields): void;
  /** A logger whose every line carries `fields` too. */
  child(fields: LogFields): Logger;
  /** Whether debug lines are written: worth asking before building a costly one. */
  isDebugEnabled(): boolean;
}

/** Our Logger over one winston logger (a process's, or a child of it). */
class WinstonLogger implements Logger {
  readonly winston: winston.Logger;

  constructor(logger: winston.Logger) {
    this.winston = logger;
  }

  error(message: string, fields?: LogFields): void {
    this.winston.error(message, fields);
  }

  warn(message: string, fields?: LogFields): void {
    this.winston.warn(message, fields);
  }

  info(message: string, fields?: LogFields): void {
    this.winston.info(message, fields);
  }

  debug(message: string, fields?: LogFields): void {
    this.winston.debug(message, fields);
  }

  log(level: LogLevel, message: string, fields?: LogFields): void {
    this.winston.log(level, message, fields);
  }

  child(fields: LogFields): Logger {
    return new WinstonLogger(this.winston.child(fields));
  }

  isDebugEnabled(): boolean {
    return this.winston.isDebugEnabled();
  }
}

export interface LoggerOptions {
  /** Name of the process: `ingest`, `dispatcher`, `sandbox`. Sent as GELF facility. */
  readonly service: string;
  /** Lowest level written. Default `info`. */
  readonly level?: string;
  /** GELF receiver (Graylog) over UDP; when absent, logs go to stdout only. */
  readonly gelf?: { readonly host: string; readonly port: number } | undefined;
  /** Write JSON lines to stdout. Default true. */
  readonly console?: boolean;
  /** Also hand every entry to this function (tests read what a process logged). */
  readonly capture?: (entry: Readonly<Record<string, unknown>>) => void;
  /** What is masked in every line, on stdout and GELF alike. Default: see MaskingOptions. */
  readonly masking?: MaskingOptions;
}

/** A transport that hands each entry to a function: an object-mode stream the Stream transport writes entries to. */
function captureTransport(capture: (entry: Readonly<Record<string, unknown>>) => void): winston.transport {
  const stream = new Writable({
    objectMode: true,
    write(entry: Record<string, unknown>, _encoding, done) {
      capture(entry);
      done();
    },
  });
  return new winston.transports.Stream({ stream });
}

/**
 * One logger per process: JSON lines on stdout and, when configured, GELF to Graylog.
 * Bind ids with `logger.child({ request_id, tenant_id, ... })`; every line then carries them
 * (GELF puts them in additional fields).
 */
export function createLogger(options: LoggerOptions): Logger {
  const transports: winston.transport[] = [];
  if (options.console !== false) {
    transports.push(new winston.transports.Console());
  }
  if (options.capture !== undefined) transports.push(captureTransport(options.capture));
  if (options.gelf !== undefined) {
    transports.push(
      new Graylog2Transport({
        // winston-graylog2 reads bound fields from `info.metadata` only.
        format: winston.format.metadata({ fillExcept: ['message', 'level', 'timestamp'] }),
        graylog: {
          servers: [{ host: options.gelf.host, port: options.gelf.port }],
          facility: options.service,
        },
        staticMeta: { service: options.service },
        // winston-graylog2 types against its own copy of winston-transport.
      }) as unknown as winston.transport,
    );
  }
  const logger: winston.Logger = winston.createLogger({
    level: options.level ?? 'info',
    // A logger with nowhere to write (tests) stays quiet instead of warning per line.
    silent: transports.length === 0,
    defaultMeta: { service: options.service },
    // Masking runs in the logger's own format, before any transport sees the line.
    format: winston.format.combine(
      masked(options.masking, (level) => logger.isLevelEnabled(level)),
      winston.format.timestamp(),
      winston.format.json(),
    ),
    transports,
  });
  return new WinstonLogger(logger);
}

/**
 * Winston filters levels only in the transports, after the logger's format: a line below
 * the level is dropped here instead, so it costs no masking (a debug line may carry a
 * whole provider request body).
 */
function masked(
  options: MaskingOptions | undefined,
  enabled: (level: string) => boolean,
): winston.Logform.Format {
  const mask = createMasker(options);
  return winston.format((info) => {
    if (!enabled(info.level)) return false;
    maskRecord(mask, info);
    return info;
  })();
}

/** The logging settings of a tier (TierConfig's). */
export interface TierLogSettings {
  readonly logLevel: string;
  readonly gelfHost?: string | undefined;
  readonly gelfPort: number;
  readonly logMaskPhone: MaskingOptions['phone'];
  readonly logMaskEmail: MaskingOptions['email'];
  readonly logMaskText: MaskingOptions['text'];
  readonly logMaskCredentials: MaskingOptions['credentials'];
  /** Comma-separated field names. */
  readonly logMaskFields?: string | undefined;
}

/** A tier's logger from its settings: its level, its masking, and GELF when a host is set. */
export function tierLogger(service: string, config: TierLogSettings): Logger {
  const fields = (config.logMaskFields ?? '')
    .split(',')
    .map((field) => field.trim())
    .filter((field) => field !== '');
  return createLogger({
    service,
    level: config.logLevel,
    gelf:
      config.gelfHost === undefined ? undefined : { host: config.gelfHost, port: config.gelfPort },
    masking: {
      ...(config.logMaskPhone === undefined ? {} : { phone: config.logMaskPhone }),
      ...(config.logMaskEmail === undefined ? {} : { email: config.logMaskEmail }),
      ...(config.logMaskText === undefined ? {} : { text: config.logMaskText }),
      ...(config.logMaskCredentials === undefined
        ? {}
        : { credentials: config.logMaskCredentials }),
      fields,
    },
  });
}

/** Flushes and closes every transport (GELF sends on a timer): await before exit. */
export async function closeLogger(closing: Logger): Promise<void> {
  if (!(closing instanceof WinstonLogger)) return;
  const logger = closing.winston;
  // winston-graylog2 hands each line to the GELF client on setImmediate, and the client
  // drops what it has not sent when closed; give the last lines time to leave.
  await new Promise((resolve) => setTimeout(resolve, 300));
  const finished = new Promise<void>((resolve) => logger.on('finish', () => resolve()));
  logger.end();
  await Promise.race([finished, new Promise((resolve) => setTimeout(resolve, 2000))]);
}
