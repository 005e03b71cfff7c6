import ipaddr from 'ipaddr.js';
import { ConfigError } from '@commstrat/core';
import { parseAddress, type Address } from './address-ranges.ts';

/** One operator entry: a host name (optionally `*.` for its subdomains) or an address range, optionally with a port. */
export type EgressAllowEntry =
  | { readonly kind: 'name'; readonly name: string; readonly subdomains: boolean; readonly port: number | undefined; readonly text: string }
  | { readonly kind: 'range'; readonly range: [Address, number]; readonly port: number | undefined; readonly text: string };

const NAME = /^(\*\.)?([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/;

/**
 * What an operator lets the service call although the egress policy would refuse it:
 * `COMMSTRAT_EGRESS_ALLOW`, a comma-separated list of entries, each
 *
 * - a host name: `sandbox`, `sms.internal.example`, `*.internal.example` (its subdomains),
 * - an IPv4 address or CIDR range: `10.0.0.5`, `10.1.0.0/16`,
 * - an IPv6 address or range in brackets: `[fd00::5]`, `[fd00::/8]`,
 *
 * each optionally followed by `:port` (`127.0.0.1:8082`, `[::1]:8082`, `sandbox:8082`);
 * without a port every port is allowed. A name entry trusts whatever the name resolves
 * to; a range entry allows the addresses inside it, whatever name led there.
 */
export class EgressAllowList {
  readonly entries: readonly EgressAllowEntry[];

  private constructor(entries: readonly EgressAllowEntry[]) {
    this.entries = entries;
  }

  static readonly none = new EgressAllowList([]);

  /** Parses the setting; throws an Error naming the first entry it cannot read. */
  static parse(text: string | undefined): EgressAllowList {
    if (text === undefined || text.trim() === '') return EgressAllowList.none;
    const entries = text
      .split(',')
      .map((part) => part.trim())
      .filter((part) => part !== '')
      .map(parseEntry);
    return new EgressAllowList(entries);
  }

  /** An entry names this host (as in the URL, lower case, IPv6 without brackets) on this port. */
  allowsName(host: string, port: number): boolean {
    const name = host.toLowerCase().replace(/\.$/, '');
    return this.entries.some(
      (entry) =>
        entry.kind === 'name' &&
        (entry.port === undefined || entry.port === port) &&
        (entry.subdomains ? name.endsWith(`.${entry.name}`) : name === entry.name),
    );
  }

  /** An entry's range holds this address on this port. */
  allowsAddress(address: Address, port: number): boolean {
    return this.entries.some(
      (entry) =>
        entry.kind === 'range' &&
        (entry.port === undefined || entry.port === port) &&
        entry.range[0].kind() === address.kind() &&
        address.match(entry.range),
    );
  }

  toString(): string {
    return this.entries.map((entry) => entry.text).join(',');
  }
}

function parseEntry(text: string): EgressAllowEntry {
  const fail = (why: string): never => {
    throw new Error(`"${text}" ${why}; an entry is a host name, an IPv4 address or range, or an IPv6 one in brackets, optionally with :port`);
  };
  let host = text;
  let port: number | undefined;
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(text);
  if (bracketed !== null) {
    host = bracketed[1] ?? '';
    if (bracketed[2] !== undefined) port = toPort(bracketed[2], fail);
  } else if (text.includes(':') && text.split(':').length === 2) {
    const [before = '', after = ''] = text.split(':');
    host = before;
    port = toPort(after, fail);
  } else if (text.includes(':')) {
    // A bare IPv6 address or range: no port can follow it unambiguously.
    host = text;
  }
  if (host.includes('/') || parseAddress(host) !== undefined) {
    const cidr = host.includes('/') ? host : `${host}/${parseAddress(host)?.kind() === 'ipv4' ? 32 : 128}`;
    if (!ipaddr.isValidCIDR(cidr)) fail('is not a valid address or CIDR range');
    const [address, bits] = ipaddr.parseCIDR(cidr);
    const mapped = address.kind() === 'ipv6' && (address as ipaddr.IPv6).isIPv4MappedAddress();
    const range: [Address, number] = mapped ? [(address as ipaddr.IPv6).toIPv4Address(), Math.max(0, bits - 96)] : [address, bits];
    return { kind: 'range', range, port, text };
  }
  const name = host.toLowerCase().replace(/\.$/, '');
  const match = NAME.exec(name);
  if (match === null) fail('is not a host name');
  const subdomains = name.startsWith('*.');
  return { kind: 'name', name: subdomains ? name.slice(2) : name, subdomains, port, text };
}

function toPort(text: string, fail: (why: string) => never): number {
  const port = Number(text);
  if (!/^\d{1,5}$/.test(text) || port < 1 || port > 65535) fail('has a port that is not 1-65535');
  return port;
}

/** The allow list of an app's configuration; throws ConfigError naming COMMSTRAT_EGRESS_ALLOW. */
export function egressAllowFromConfig(text: string | undefined): EgressAllowList {
  try {
    return EgressAllowList.parse(text);
  } catch (error) {
    throw new ConfigError([{ path: 'COMMSTRAT_EGRESS_ALLOW', message: error instanceof Error ? error.message : String(error) }]);
  }
}
