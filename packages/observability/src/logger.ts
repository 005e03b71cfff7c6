import { Writable } from 'node:stream';
import winston from 'winston';
import Graylog2Transport from 'winston-graylog2';

export type Logger = winston.Logger;

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
  return winston.createLogger({
    level: options.level ?? 'info',
    // A logger with nowhere to write (tests) stays quiet instead of warning per line.
    silent: transports.length === 0,
    defaultMeta: { service: options.service },
    format: winston.format.combine(winston.format.timestamp(), winston.format.json()),
    transports,
  });
}

/** A tier's logger from its settings: its level, and GELF when a host is set. */
export function tierLogger(
  service: string,
  config: { readonly logLevel: string; readonly gelfHost?: string | undefined; readonly gelfPort: number },
): Logger {
  return createLogger({
    service,
    level: config.logLevel,
    gelf: config.gelfHost === undefined ? undefined : { host: config.gelfHost, port: config.gelfPort },
  });
}

/** Flushes and closes every transport (GELF sends on a timer): await before exit. */
export async function closeLogger(logger: Logger): Promise<void> {
  // winston-graylog2 hands each line to the GELF client on setImmediate, and the client
  // drops what it has not sent when closed; give the last lines time to leave.
  await new Promise((resolve) => setTimeout(resolve, 300));
  const finished = new Promise<void>((resolve) => logger.on('finish', () => resolve()));
  logger.end();
  await Promise.race([finished, new Promise((resolve) => setTimeout(resolve, 2000))]);
}
