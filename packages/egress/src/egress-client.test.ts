import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, test } from 'node:test';
import { EgressRefusedError } from '@commstrat/core';
import { egressConnect } from './egress-agent.ts';
import { EgressAllowList } from './allow-list.ts';
import { EgressClient } from './egress-client.ts';
import { EgressPolicy, type Resolver } from './egress-policy.ts';

/** A listener on loopback that counts what reaches it. */
async function listener(): Promise<{ server: Server; port: number; hits: () => number; connections: () => number }> {
  let hits = 0;
  const server = createServer((req, res) => {
    hits += 1;
    req.resume();
    res.writeHead(204).end();
  });
  let connections = 0;
  server.on('connection', () => (connections += 1));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  after(() => {
    server.closeAllConnections();
    server.close();
  });
  return { server, port: (server.address() as AddressInfo).port, hits: () => hits, connections: () => connections };
}

const post = (client: EgressClient, url: string) => client.post(url, '{}', { 'content-type': 'application/json' }, { timeoutMs: 2000, maxAnswerBytes: 100 });

test('a name checked as public and resolved to loopback when connecting (DNS rebinding) never reaches the listener', async () => {
  const target = await listener();
  let lookups = 0;
  // First answer public (what a check at the API sees), then loopback (what the connection would get).
  const rebinding: Resolver = () => Promise.resolve([{ address: lookups++ === 0 ? '93.184.216.34' : '127.0.0.1', family: 4 }]);
  const policy = new EgressPolicy(EgressAllowList.none, { resolve: rebinding });
  const url = `http://rebind.example:${target.port}/callback`;
  await policy.check(url);
  const client = new EgressClient(policy);
  after(() => client.close());
  await assert.rejects(post(client, url), (error: unknown) => error instanceof EgressRefusedError && error.reason === 'loopback');
  assert.equal(lookups, 2, 'the connection resolved the name itself');
  assert.equal(target.connections(), 0);
});

test('address literals in any spelling are refused before connecting; an allowed one goes through', async () => {
  const target = await listener();
  const client = new EgressClient(new EgressPolicy());
  after(() => client.close());
  for (const host of ['127.0.0.1', '2130706433', '127.1', '0x7f000001', '[::ffff:127.0.0.1]']) {
    await assert.rejects(post(client, `http://${host}:${target.port}/`), EgressRefusedError, host);
  }
  await assert.rejects(post(client, `http://localhost:${target.port}/`), EgressRefusedError);
  assert.equal(target.connections(), 0);

  const allowing = new EgressClient(new EgressPolicy(EgressAllowList.parse(`127.0.0.1:${target.port}`)));
  after(() => allowing.close());
  assert.equal((await post(allowing, `http://127.0.0.1:${target.port}/`)).status, 204);
  assert.equal((await post(allowing, `http://2130706433:${target.port}/`)).status, 204);
  assert.equal(target.hits(), 2);
});

test('a redirect is answered, never followed', async () => {
  const target = await listener();
  target.server.removeAllListeners('request');
  target.server.on('request', (_req, res) => res.writeHead(302, { location: 'http://169.254.169.254/latest/meta-data/' }).end());
  const client = new EgressClient(new EgressPolicy(EgressAllowList.parse(`127.0.0.1:${target.port}`)));
  after(() => client.close());
  assert.equal((await post(client, `http://127.0.0.1:${target.port}/`)).status, 302);
});

test('a plain TCP connection (SMTP) goes through the same checks', async () => {
  const target = await listener();
  await assert.rejects(egressConnect(new EgressPolicy(), '127.0.0.1', target.port, 1000), EgressRefusedError);
  await assert.rejects(egressConnect(new EgressPolicy(), 'localhost', target.port, 1000), EgressRefusedError);
  const socket = await egressConnect(new EgressPolicy(EgressAllowList.parse(`127.0.0.1:${target.port}`)), '127.0.0.1', target.port, 1000);
  assert.equal(socket.remoteAddress, '127.0.0.1');
  socket.destroy();
});
