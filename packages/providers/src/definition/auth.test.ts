import assert from 'node:assert/strict';
import { createHash, createHmac, createVerify, generateKeyPairSync } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { ProviderUnavailableError } from '@commstrat/core';
import { EgressAllowList, EgressPolicy } from '@commstrat/egress';
import {
  ProviderMisconfiguredError,
  RequestAuthenticator,
  TokenUnavailableError,
  hmacSignature,
  jwtAssertion,
  type AuthDefinition,
  type OutgoingRequest,
} from './auth.ts';

const request = (): OutgoingRequest => ({ method: 'POST', path: '/v1/send?x=1', headers: {}, body: '{"to":"+4915112345678"}' });

test('the HMAC signer signs method, path, timestamp and body digest one per line with SHA-256', () => {
  const input = { method: 'post', path: '/v1/send?x=1', timestamp: 1_700_000_000, body: '{"a":1}' };
  const expected = createHmac('sha256', 's3cret')
    .update(['POST', '/v1/send?x=1', '1700000000', createHash('sha256').update('{"a":1}').digest('hex')].join('\n'))
    .digest('hex');
  assert.equal(hmacSignature(input, 's3cret', ['method', 'path', 'timestamp', 'body_sha256']), expected);
  // Only what is named is signed, in the order named.
  assert.equal(
    hmacSignature(input, 's3cret', ['timestamp', 'method'], 'base64'),
    createHmac('sha256', 's3cret').update('1700000000\nPOST').digest('base64'),
  );
  assert.notEqual(hmacSignature({ ...input, body: '{"a":2}' }, 's3cret', ['body_sha256']), hmacSignature(input, 's3cret', ['body_sha256']));
});

test('hmac auth puts the signature and the signed timestamp in the named headers, the secret from credentials', async () => {
  const auth: AuthDefinition = {
    type: 'hmac',
    header: 'X-Signature',
    prefix: 'sha256=',
    secret: '{{ credentials.signing_secret }}',
    signed: ['method', 'path', 'timestamp', 'body_sha256'],
    timestamp_header: 'X-Timestamp',
  };
  const authenticator = new RequestAuthenticator({ providerId: 't/p', auth, credentials: { signing_secret: 'k' }, egress: new EgressPolicy(), clock: () => 1_700_000_000_500 });
  const outgoing = request();
  await authenticator.apply(outgoing);
  assert.equal(outgoing.headers['X-Timestamp'], '1700000000');
  const signature = hmacSignature({ ...outgoing, timestamp: 1_700_000_000 }, 'k', auth.signed);
  assert.equal(outgoing.headers['X-Signature'], `sha256=${signature}`);
});

test('a JWT assertion is RS256 over iss, scope, aud, iat and exp, and verifies with the public key', () => {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwt = jwtAssertion({
    issuer: 'sa@project.iam.gserviceaccount.com',
    scope: 'https://www.googleapis.com/auth/firebase.messaging',
    audience: 'https://oauth2.googleapis.com/token',
    privateKey: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    keyId: 'key-1',
    nowSeconds: 1_700_000_000,
    lifetimeSeconds: 3600,
  });
  const [header = '', claims = '', signature = ''] = jwt.split('.');
  const decode = (part: string) => JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as unknown;
  assert.deepEqual(decode(header), { alg: 'RS256', typ: 'JWT', kid: 'key-1' });
  assert.deepEqual(decode(claims), {
    iss: 'sa@project.iam.gserviceaccount.com',
    scope: 'https://www.googleapis.com/auth/firebase.messaging',
    aud: 'https://oauth2.googleapis.com/token',
    iat: 1_700_000_000,
    exp: 1_700_003_600,
  });
  assert.ok(createVerify('RSA-SHA256').update(`${header}.${claims}`).verify(publicKey, Buffer.from(signature, 'base64url')));
  const other = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey;
  assert.ok(!createVerify('RSA-SHA256').update(`${header}.${claims}`).verify(other, Buffer.from(signature, 'base64url')));
});

/** A token endpoint the test scripts; it records what it was asked. */
async function tokenServer(answer: (form: URLSearchParams, req: IncomingMessage, res: ServerResponse) => void) {
  const asked: { form: URLSearchParams; authorization: string | undefined }[] = [];
  const server = createServer((req, res) => {
    let text = '';
    req.on('data', (chunk: Buffer) => (text += chunk.toString()));
    req.on('end', () => {
      const form = new URLSearchParams(text);
      asked.push({ form, authorization: req.headers.authorization });
      answer(form, req, res);
    });
  });
  server.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  test.after(() => {
    server.closeAllConnections();
    server.close();
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/oauth/token`, asked };
}

/** The token servers here listen on loopback, which the egress policy lets through only when told. */
const LOOPBACK_ALLOWED = new EgressPolicy(EgressAllowList.parse('127.0.0.1'));

const json = (res: ServerResponse, status: number, body: unknown) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));

function clientCredentials(url: string, clock: () => number, timeoutMs = 2000, egress = LOOPBACK_ALLOWED): RequestAuthenticator {
  return new RequestAuthenticator({
    providerId: 'acme/p',
    egress,
    auth: {
      type: 'oauth2_client_credentials',
      token_url: url,
      client_id: '{{ credentials.client_id }}',
      client_secret: '{{ credentials.client_secret }}',
      scope: 'messages:send',
      refresh_before_seconds: 60,
    },
    credentials: { client_id: 'id:1', client_secret: 's&cret' },
    clock,
    timeoutMs,
  });
}

test('OAuth2 client credentials: one token request, the token reused until shortly before expires_in, then a new one', async () => {
  let issued = 0;
  const endpoint = await tokenServer((_form, _req, res) => json(res, 200, { access_token: `tok-${++issued}`, expires_in: 3600, token_type: 'Bearer' }));
  let now = 1_000_000;
  const authenticator = clientCredentials(endpoint.url, () => now);
  test.after(() => authenticator.close());
  const sends = await Promise.all([1, 2, 3].map(async () => {
    const outgoing = request();
    await authenticator.apply(outgoing);
    return outgoing.headers['authorization'];
  }));
  assert.deepEqual(sends, ['Bearer tok-1', 'Bearer tok-1', 'Bearer tok-1'], 'concurrent sends share one token request');
  now += 3600_000 - 61_000;
  const stillCached = request();
  await authenticator.apply(stillCached);
  assert.equal(stillCached.headers['authorization'], 'Bearer tok-1');
  now += 2_000;
  const renewed = request();
  await authenticator.apply(renewed);
  assert.equal(renewed.headers['authorization'], 'Bearer tok-2', 'within 60 s of expiry a new token is fetched');
  authenticator.invalidate();
  const afterRefusal = request();
  await authenticator.apply(afterRefusal);
  assert.equal(afterRefusal.headers['authorization'], 'Bearer tok-3');
  assert.equal(endpoint.asked.length, 3);
  const first = endpoint.asked[0]!;
  assert.equal(first.form.get('grant_type'), 'client_credentials');
  assert.equal(first.form.get('scope'), 'messages:send');
  // RFC 6749 2.3.1: id and secret form-encoded, then Basic.
  assert.equal(first.authorization, `Basic ${Buffer.from('id%3A1:s%26cret').toString('base64')}`);
});

test('token endpoint failures are classified: invalid_client misconfigured, 5xx and timeouts retryable, and no secret in the message', async () => {
  let mode: 'invalid_client' | 'invalid_grant' | 'down' | 'slow' = 'invalid_client';
  const endpoint = await tokenServer((_form, _req, res) => {
    if (mode === 'invalid_client') json(res, 401, { error: 'invalid_client', error_description: 'Client authentication failed' });
    else if (mode === 'invalid_grant') json(res, 400, { error: 'invalid_grant' });
    else if (mode === 'down') json(res, 503, { error: 'temporarily_unavailable' });
    else setTimeout(() => json(res, 200, { access_token: 'late', expires_in: 60 }), 500);
  });
  const authenticator = clientCredentials(endpoint.url, Date.now, 200);
  test.after(() => authenticator.close());
  const failure = async () => {
    try {
      await authenticator.apply(request());
    } catch (error) {
      assert.ok(error instanceof TokenUnavailableError, String(error));
      assert.doesNotMatch(`${error.error.message} ${error.response}`, /s&cret|s%26cret/);
      return error.error;
    }
    assert.fail('expected the token request to fail');
  };
  assert.ok((await failure()) instanceof ProviderMisconfiguredError);
  mode = 'invalid_grant';
  assert.ok((await failure()) instanceof ProviderMisconfiguredError);
  mode = 'down';
  const down = await failure();
  assert.ok(down instanceof ProviderUnavailableError && !(down instanceof ProviderMisconfiguredError));
  mode = 'slow';
  assert.ok((await failure()) instanceof ProviderUnavailableError);
});

test('a token URL the egress policy refuses is never asked, and the token failure is misconfigured', async () => {
  const endpoint = await tokenServer((_form, _req, res) => json(res, 200, { access_token: 'leaked', expires_in: 3600 }));
  const authenticator = clientCredentials(endpoint.url, Date.now, 2000, new EgressPolicy());
  test.after(() => authenticator.close());
  await assert.rejects(authenticator.apply(request()), (error: unknown) => {
    assert.ok(error instanceof TokenUnavailableError);
    assert.ok(error.error instanceof ProviderMisconfiguredError);
    assert.match(error.error.message, /token_url .*loopback/);
    return true;
  });
  assert.equal(endpoint.asked.length, 0);
});
