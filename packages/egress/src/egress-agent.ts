import http, { type ClientRequestArgs } from 'node:http';
import https from 'node:https';
import net, { isIP } from 'node:net';
import type { Duplex } from 'node:stream';
import type { EgressPolicy } from './egress-policy.ts';

type ConnectionCallback = (error: Error | null, stream: Duplex) => void;

/**
 * Makes each new connection of an agent go through the policy: an address host is
 * checked before connecting; a name is resolved by the policy's lookup, which checks
 * the addresses the socket then uses. A refused connection fails its request with
 * EgressRefusedError; nothing is sent.
 */
function guardedConnection(
  policy: EgressPolicy,
  defaultPort: number,
  options: ClientRequestArgs,
  callback: ConnectionCallback | undefined,
  connect: (options: ClientRequestArgs & { lookup: unknown }, callback?: ConnectionCallback) => Duplex | null | undefined,
): Duplex | null | undefined {
  const raw = options.host ?? options.hostname ?? 'localhost';
  const host = raw.startsWith('[') ? raw.slice(1, -1) : raw;
  const port = Number(options.port ?? defaultPort);
  if (isIP(host) !== 0) {
    try {
      policy.checkAddresses(host, port, [host]);
    } catch (refusal) {
      callback?.(refusal as Error, undefined as unknown as Duplex);
      return undefined;
    }
  }
  return connect({ ...options, lookup: policy.lookupFor(port) }, callback);
}

/** An http.Agent whose connections the egress policy checks (see guardedConnection). */
export class EgressHttpAgent extends http.Agent {
  private readonly policy: EgressPolicy;

  constructor(policy: EgressPolicy, options: http.AgentOptions = {}) {
    super(options);
    this.policy = policy;
  }

  override createConnection(options: ClientRequestArgs, callback?: ConnectionCallback): Duplex | null | undefined {
    return guardedConnection(this.policy, 80, options, callback, (checked, done) => super.createConnection(checked, done));
  }
}

/** An https.Agent whose connections the egress policy checks; TLS still verifies the URL's host name. */
export class EgressHttpsAgent extends https.Agent {
  private readonly policy: EgressPolicy;

  constructor(policy: EgressPolicy, options: https.AgentOptions = {}) {
    super(options);
    this.policy = policy;
  }

  override createConnection(options: ClientRequestArgs, callback?: ConnectionCallback): Duplex | null | undefined {
    return guardedConnection(this.policy, 443, options, callback, (checked, done) => super.createConnection(checked, done));
  }
}

/** The agent for a URL's protocol. */
export function egressAgent(policy: EgressPolicy, protocol: string, options: http.AgentOptions = {}): http.Agent {
  return protocol === 'https:' ? new EgressHttpsAgent(policy, options) : new EgressHttpAgent(policy, options);
}

/**
 * A plain TCP connection through the policy (SMTP): resolves and checks `host`, then
 * connects to the checked address. Resolves once connected; rejects with
 * EgressRefusedError, the socket's error, or a timeout.
 */
export async function egressConnect(policy: EgressPolicy, host: string, port: number, timeoutMs: number): Promise<net.Socket> {
  const bare = host.startsWith('[') ? host.slice(1, -1) : host;
  if (isIP(bare) !== 0) policy.checkAddresses(bare, port, [bare]);
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: bare, port, lookup: policy.lookupFor(port), timeout: timeoutMs });
    const fail = (error: Error) => {
      socket.destroy();
      reject(error);
    };
    socket.once('error', fail);
    socket.once('timeout', () => fail(Object.assign(new Error(`no connection to ${host}:${port} within ${timeoutMs} ms`), { code: 'ETIMEDOUT' })));
    socket.once('connect', () => {
      socket.off('error', fail);
      socket.setTimeout(0);
      resolve(socket);
    });
  });
}
