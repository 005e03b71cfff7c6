import ipaddr from 'ipaddr.js';

type Address = ipaddr.IPv4 | ipaddr.IPv6;

/**
 * The one IPv6 block ipaddr.js counts as unicast that carries an IPv4 address inside:
 * the deprecated IPv4-compatible form (`::127.0.0.1`, RFC 4291 2.5.5.1). Refused like
 * the ranges ipaddr.js names.
 */
const EXTRA_REFUSED_V6: readonly (readonly [string, string])[] = [['::/96', 'ipv4Compatible']];
const EXTRA_V6 = EXTRA_REFUSED_V6.map(([cidr, name]) => [ipaddr.IPv6.parseCIDR(cidr), name] as const);

/**
 * Parses an address as it comes from a resolver or a URL's host (brackets and an IPv6
 * zone id allowed); an IPv4-mapped IPv6 address (`::ffff:127.0.0.1`) becomes the IPv4
 * address it carries, so it is judged as that. Undefined when it is not an address.
 */
export function parseAddress(text: string): Address | undefined {
  const bare = text.startsWith('[') && text.endsWith(']') ? text.slice(1, -1) : text;
  // Only canonical forms: an address from a resolver or the WHATWG URL parser is one, and
  // ipaddr.js's lenient IPv4 forms ("0x7f.1") are for the URL parser to have normalised.
  if (!ipaddr.IPv6.isValid(bare) && !ipaddr.IPv4.isValidFourPartDecimal(bare)) return undefined;
  return ipaddr.process(bare);
}

/**
 * Why the service never connects to `address` on a tenant's behalf: the name of its
 * special range (`loopback`, `private`, `linkLocal`, `uniqueLocal`, `carrierGradeNat`,
 * `multicast`, `unspecified`, `broadcast`, `reserved` for documentation and future use,
 * `6to4`, `teredo`, ...), or undefined for a public unicast address. The ranges are
 * ipaddr.js's (IANA's special-purpose registries), not a table of ours.
 */
export function refusedRange(address: Address): string | undefined {
  const range = address.range();
  if (range !== 'unicast') return range;
  if (address.kind() === 'ipv6') {
    for (const [cidr, name] of EXTRA_V6) if (address.match(cidr)) return name;
  }
  return undefined;
}

export type { Address };
