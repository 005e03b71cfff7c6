import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EgressRefusedError } from '@commstrat/core';
import { EgressAllowList } from './allow-list.ts';
import { EgressPolicy, type Resolver } from './egress-policy.ts';

/** Names a test can resolve without a DNS server; anything else does not exist. */
const NAMES: Readonly<Record<string, readonly string[]>> = {
  'public.example': ['93.184.216.34'],
  'public6.example': ['2606:4700::1111'],
  'rebind.example': ['127.0.0.1'],
  '127.0.0.1.nip.io': ['127.0.0.1'],
  'metadata.example': ['169.254.169.254'],
  'mixed.example': ['93.184.216.34', '10.0.0.1'],
  'mapped.example': ['::ffff:10.1.2.3'],
  sandbox: ['10.0.0.5'],
  'a.internal.example': ['10.9.0.1'],
  'internal.example': ['10.9.0.2'],
};
const fakeResolve: Resolver = (host) => {
  const found = NAMES[host];
  if (found === undefined) return Promise.reject(Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' }));
  return Promise.resolve(found.map((address) => ({ address, family: address.includes(':') ? 6 : 4 })));
};

/** The verdict of `policy` on `url`: `ok`, or the reason of its refusal. */
async function verdict(policy: EgressPolicy, url: string): Promise<string> {
  try {
    await policy.check(url);
    return 'ok';
  } catch (error) {
    assert.ok(error instanceof EgressRefusedError, `${url}: ${String(error)}`);
    assert.equal(error.code, 'egress_refused');
    assert.equal(error.httpStatus, 422);
    return error.reason;
  }
}

const REFUSED: readonly (readonly [string, string])[] = [
  // Loopback, however it is spelled (each measured getting a signed callback before).
  ['http://127.0.0.1/callback', 'loopback'],
  ['http://127.0.0.1:6379/', 'loopback'],
  ['http://2130706433/', 'loopback'],
  ['http://127.1/', 'loopback'],
  ['http://0x7f000001/', 'loopback'],
  ['http://0x7f.1/', 'loopback'],
  ['http://0177.0.0.1/', 'loopback'],
  ['http://127.000.000.001/', 'loopback'],
  ['http://[::1]/', 'loopback'],
  ['http://[0:0:0:0:0:0:0:1]:5432/', 'loopback'],
  ['http://[::ffff:127.0.0.1]/', 'loopback'],
  ['http://[::ffff:7f00:1]/', 'loopback'],
  ['HTTP://LOCALHOST.localdomain.invalid/', 'unresolvable'],
  ['http://rebind.example/', 'loopback'],
  ['http://127.0.0.1.nip.io:9090/', 'loopback'],
  // IPv4 inside other IPv6 forms.
  ['http://[::127.0.0.1]/', 'ipv4Compatible'],
  ['http://[64:ff9b::7f00:1]/', 'rfc6052'],
  ['http://[2002:7f00:1::]/', '6to4'],
  // Link-local, cloud metadata.
  ['http://169.254.169.254/latest/meta-data/', 'linkLocal'],
  ['http://metadata.example/', 'linkLocal'],
  ['http://[fe80::1]/', 'linkLocal'],
  // Private, unique local, CGNAT.
  ['http://10.0.0.1/', 'private'],
  ['http://172.16.5.4/', 'private'],
  ['http://192.168.1.1/', 'private'],
  ['http://mixed.example/', 'private'],
  ['http://mapped.example/', 'private'],
  ['http://[::ffff:192.168.0.1]/', 'private'],
  ['http://[fd12:3456::1]/', 'uniqueLocal'],
  ['http://[fec0::1]/', 'deprecatedSiteLocal'],
  ['http://100.64.0.1/', 'carrierGradeNat'],
  // Multicast, unspecified, broadcast.
  ['http://224.0.0.1/', 'multicast'],
  ['http://[ff02::1]/', 'multicast'],
  ['http://0.0.0.0/', 'unspecified'],
  ['http://0/', 'unspecified'],
  ['http://[::]/', 'unspecified'],
  ['http://255.255.255.255/', 'broadcast'],
  // Documentation and reserved ranges.
  ['http://192.0.2.1/', 'reserved'],
  ['http://198.51.100.7/', 'reserved'],
  ['http://203.0.113.9/', 'reserved'],
  ['http://240.0.0.1/', 'reserved'],
  ['http://[2001:db8::1]/', 'reserved'],
  // Not http(s), or not a URL; IPv6 zone ids do not parse.
  ['ftp://public.example/', 'scheme'],
  ['file:///etc/passwd', 'scheme'],
  ['gopher://public.example:70/', 'scheme'],
  ['redis://public.example:6379/', 'scheme'],
  ['not a url', 'invalid_url'],
  ['/relative/path', 'invalid_url'],
  ['http://[fe80::1%25eth0]/', 'invalid_url'],
  ['http://no-such-host.invalid/', 'unresolvable'],
];

const ALLOWED = ['https://public.example/hooks', 'http://public6.example:8080/', 'https://93.184.216.34/', 'http://[2606:4700::1111]/', 'https://8.8.8.8:8443/x?y=1'];

test('the policy refuses every internal target, however its address is spelled', async () => {
  const policy = new EgressPolicy(EgressAllowList.none, { resolve: fakeResolve });
  for (const [url, reason] of REFUSED) assert.equal(await verdict(policy, url), reason, url);
  for (const url of ALLOWED) assert.equal(await verdict(policy, url), 'ok', url);
});

test('localhost is refused through the system resolver, as a connection would resolve it', async () => {
  const policy = new EgressPolicy();
  assert.equal(await verdict(policy, 'http://localhost:5432/'), 'loopback');
  assert.equal(await verdict(policy, 'http://LocalHost/'), 'loopback');
});

test('an operator allows named hosts and ranges, optionally on one port, and nothing more', async () => {
  const policy = new EgressPolicy(
    EgressAllowList.parse('127.0.0.1:8082, sandbox:8082, 10.1.0.0/16, [::1]:9000, *.internal.example, [fd00::/8]:443'),
    { resolve: fakeResolve },
  );
  const cases: readonly (readonly [string, string])[] = [
    ['http://127.0.0.1:8082/v1/sms/batch', 'ok'],
    ['http://2130706433:8082/', 'ok'],
    ['http://127.0.0.1:6379/', 'loopback'],
    ['http://127.0.0.2:8082/', 'loopback'],
    ['http://sandbox:8082/', 'ok'],
    ['http://sandbox:9090/', 'private'],
    ['http://10.1.200.3/', 'ok'],
    ['http://[::ffff:10.1.0.9]/', 'ok'],
    ['http://10.2.0.1/', 'private'],
    ['http://[::1]:9000/', 'ok'],
    ['http://[::1]:9001/', 'loopback'],
    ['http://a.internal.example/', 'ok'],
    ['http://internal.example/', 'private'],
    ['https://[fd00::7]/', 'ok'],
    ['http://[fd00::7]/', 'uniqueLocal'],
    ['http://169.254.169.254/', 'linkLocal'],
  ];
  for (const [url, expected] of cases) assert.equal(await verdict(policy, url), expected, url);
});

test('a name that does not resolve may be let through for the connection to check again', async () => {
  const policy = new EgressPolicy(EgressAllowList.none, { resolve: fakeResolve });
  await policy.check('http://no-such-host.invalid/', { unresolvable: 'accept' });
  await assert.rejects(policy.check('http://rebind.example/', { unresolvable: 'accept' }), EgressRefusedError);
});

test('a resolver that hangs is given up on', async () => {
  const policy = new EgressPolicy(EgressAllowList.none, { resolve: () => new Promise(() => undefined), resolveTimeoutMs: 50 });
  assert.equal(await verdict(policy, 'http://slow.example/'), 'unresolvable');
});

test('an allow list entry that cannot be read is refused with the entry named', () => {
  for (const bad of ['http://sandbox', '10.0.0.0/33', 'two words', 'sandbox:99999', 'sandbox:0', '[::1', '[::1]:x', 'under_score']) {
    assert.throws(() => EgressAllowList.parse(bad), (error: Error) => error.message.includes(`"${bad}"`), bad);
  }
  assert.equal(EgressAllowList.parse(' ').entries.length, 0);
  assert.equal(EgressAllowList.parse('127.0.0.1:8082,sandbox').toString(), '127.0.0.1:8082,sandbox');
});

test('a refusal said of a field names the field', () => {
  const refusal = new EgressRefusedError('aims at 127.0.0.1:80, a loopback address', 'loopback').at('/callback_url');
  assert.deepEqual(refusal.toJSON().error.problems, [{ path: '/callback_url', message: 'aims at 127.0.0.1:80, a loopback address' }]);
  assert.equal(refusal.reason, 'loopback');
});
