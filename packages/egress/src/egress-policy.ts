import { lookup as dnsLookup } from 'node:dns';
import type { LookupAddress, LookupAllOptions } from 'node:dns';
import type { LookupFunction } from 'node:net';
import { EgressRefusedError } from '@commstrat/core';
import { parseAddress, refusedRange } from './address-ranges.ts';
import { EgressAllowList } from './allow-list.ts';

/** A URL the policy has read: the parts a connection is made from. */
export interface EgressTarget {
  readonly url: URL;
  /** The host as connected to: a name in lower case, or an address without brackets. */
  readonly host: string;
  /** The port as connected to: the URL's, or 80 / 443. */
  readonly port: number;
}

/** Resolves a name to every address it has, as `dns.lookup(name, { all: true })` does. */
export type Resolver = (host: string) => Promise<readonly LookupAddress[]>;

export interface EgressPolicyOptions {
  /** Default: the system resolver (`dns.lookup`, so /etc/hosts counts, as it does for a connection). */
  readonly resolve?: Resolver;
  /** Longest a name may take to resolve, ms. Default 5 000. */
  readonly resolveTimeoutMs?: number;
}

/** The lookup function of net.connect: called with `all` when the socket tries several addresses. */
export type ConnectLookup = LookupFunction;

const systemResolve: Resolver = (host) =>
  new Promise((resolve, reject) => {
    const options: LookupAllOptions = { all: true, order: 'verbatim' };
    dnsLookup(host, options, (error, addresses) => (error === null ? resolve(addresses) : reject(error)));
  });

/**
 * The one egress policy: every request the service makes to a URL a tenant can set
 * (status callbacks, webhook and HTTP provider endpoints, OAuth token URLs, SMTP servers)
 * goes through it. A URL must be http(s); its host is resolved and every address it has
 * must be public unicast, unless the operator's allow list (COMMSTRAT_EGRESS_ALLOW)
 * names the host or holds the address. The check is made again in the connection's own
 * lookup (`lookupFor`, used by EgressAgent), on the addresses the socket then connects
 * to, so a name that resolves to a public address when checked and to an internal one
 * when connecting (DNS rebinding) is refused all the same. Redirects are never followed
 * (node:http does not, and no caller does it by hand).
 */
export class EgressPolicy {
  readonly allow: EgressAllowList;
  private readonly resolve: Resolver;
  private readonly resolveTimeoutMs: number;

  constructor(allow: EgressAllowList = EgressAllowList.none, options: EgressPolicyOptions = {}) {
    this.allow = allow;
    this.resolve = options.resolve ?? systemResolve;
    this.resolveTimeoutMs = options.resolveTimeoutMs ?? 5000;
  }

  /**
   * Reads a URL the service would call: absolute, http or https, a host. The WHATWG
   * parser normalises the odd IPv4 spellings (`2130706433`, `0x7f000001`, `0177.1`,
   * `127.1` all become `127.0.0.1`) and refuses IPv6 zone ids, so what is checked is what
   * a connection would use. Throws EgressRefusedError (`invalid_url`, `scheme`).
   */
  target(url: string): EgressTarget {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new EgressRefusedError('is not an absolute URL', 'invalid_url');
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
      throw new EgressRefusedError(`uses ${parsed.protocol.slice(0, -1)}:, only http and https are called`, 'scheme');
    }
    if (parsed.hostname === '') throw new EgressRefusedError('has no host', 'invalid_url');
    const host = parsed.hostname.startsWith('[') ? parsed.hostname.slice(1, -1) : parsed.hostname.toLowerCase();
    const port = parsed.port === '' ? (parsed.protocol === 'https:' ? 443 : 80) : Number(parsed.port);
    return { url: parsed, host, port };
  }

  /**
   * Checks a URL as a connection to it would be checked: refused scheme, refused
   * address, or a name that resolves to one. `unresolvable: 'accept'` lets a name that
   * does not resolve now pass (the connection checks it again when it is made); the API
   * uses it so a passing DNS failure does not refuse a message. Throws EgressRefusedError.
   */
  async check(url: string, options: { unresolvable?: 'accept' | 'refuse' } = {}): Promise<EgressTarget> {
    const target = this.target(url);
    await this.checkHost(target.host, target.port, options.unresolvable ?? 'refuse');
    return target;
  }

  /** Checks a host (name or address) and port, resolving a name. Throws EgressRefusedError. */
  async checkHost(host: string, port: number, unresolvable: 'accept' | 'refuse' = 'refuse'): Promise<void> {
    if (parseAddress(host) !== undefined || this.allow.allowsName(host, port)) {
      this.checkAddresses(host, port, [host]);
      return;
    }
    let addresses: readonly LookupAddress[];
    try {
      addresses = await this.resolveInTime(host);
    } catch (cause) {
      if (unresolvable === 'accept') return;
      throw new EgressRefusedError(`has a host ${host} that does not resolve (${errorCode(cause)})`, 'unresolvable');
    }
    this.checkAddresses(host, port, addresses.map((entry) => entry.address));
  }

  /**
   * Throws EgressRefusedError unless every address of `host` may be called on `port`:
   * the host is named by the allow list, or each address is public unicast or inside an
   * allowed range. One refused address refuses the host: a name with mixed records is
   * not trusted to be connected to its public one.
   */
  checkAddresses(host: string, port: number, addresses: readonly string[]): void {
    if (this.allow.allowsName(host, port)) return;
    if (addresses.length === 0) throw new EgressRefusedError(`has a host ${host} with no address`, 'unresolvable');
    for (const text of addresses) {
      const address = parseAddress(text);
      if (address === undefined) throw new EgressRefusedError(`has a host ${host} that resolves to ${text}, not an address`, 'invalid_address');
      const range = refusedRange(address);
      if (range !== undefined && !this.allow.allowsAddress(address, port)) {
        const shown = host === text ? host : `${host} (${address.toString()})`;
        throw new EgressRefusedError(
          `aims at ${shown}:${port}, a ${range} address the service does not call (an operator may allow it in COMMSTRAT_EGRESS_ALLOW)`,
          range,
        );
      }
    }
  }

  /**
   * The lookup a connection to `port` uses: resolves as net.connect would, checks every
   * address, and hands the socket only addresses that passed, so the address connected
   * to is the one checked. A refusal fails the connection with EgressRefusedError.
   */
  lookupFor(port: number): ConnectLookup {
    return (hostname, options, callback) => {
      this.resolveInTime(hostname).then(
        (addresses) => {
          const family = options.family === 4 || options.family === 'IPv4' ? 4 : options.family === 6 || options.family === 'IPv6' ? 6 : 0;
          const usable = family === 0 ? addresses : addresses.filter((entry) => entry.family === family);
          try {
            this.checkAddresses(hostname, port, usable.map((entry) => entry.address));
          } catch (refusal) {
            callback(refusal as EgressRefusedError, '', 0);
            return;
          }
          if (options.all === true) callback(null, [...usable]);
          else callback(null, usable[0]?.address ?? '', usable[0]?.family ?? 4);
        },
        (error: NodeJS.ErrnoException) => callback(error, '', 0),
      );
    };
  }

  private resolveInTime(host: string): Promise<readonly LookupAddress[]> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(Object.assign(new Error(`resolving ${host} took over ${this.resolveTimeoutMs} ms`), { code: 'ETIMEOUT' })), this.resolveTimeoutMs);
    });
    return Promise.race([this.resolve(host), timeout]).finally(() => clearTimeout(timer));
  }
}

function errorCode(cause: unknown): string {
  const code = (cause as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' ? code : cause instanceof Error ? cause.message : String(cause);
}
