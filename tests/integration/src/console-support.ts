// The operator console's tests: a deployment with two tenants, their admin keys and an
// operator key, a client that logs in and keeps the session cookie and CSRF token as a
// browser would, and seeded journal rows and dead letters to look at.
import { toQueuedMessage, type Message } from '@commstrat/core';
import { keyWith } from './admin-support.ts';
import { journalFinished } from './cli-support.ts';
import { Redis } from 'ioredis';
import { after } from 'node:test';
import { eventually, stackEnv } from './harness.ts';
import { startDeployment, type Deployment, type DeploymentOptions } from './services.ts';

export interface ConsoleAnswer {
  readonly status: number;
  readonly headers: Headers;
  readonly body: any;
}

/** A console session as a browser holds it: the cookie (sent by the browser itself) and the CSRF token the page keeps. */
export class ConsoleClient {
  readonly baseUrl: string;
  cookie: string | undefined;
  csrf: string | undefined;
  session: any;

  constructor(baseUrl: string) {
    this.baseUrl = baseUrl;
  }

  async login(apiKey: string): Promise<ConsoleAnswer> {
    const answer = await this.call('POST', '/console/api/login', { api_key: apiKey }, { csrf: false });
    const setCookie = answer.headers.get('set-cookie');
    if (answer.status === 200 && setCookie !== null) {
      this.cookie = setCookie.split(';')[0];
      this.csrf = answer.body.csrf_token;
      this.session = answer.body;
    }
    return answer;
  }

  get(path: string): Promise<ConsoleAnswer> {
    return this.call('GET', `/console/api${path}`);
  }

  post(path: string, body: unknown, options: { csrf?: string | false; origin?: string; site?: string } = {}): Promise<ConsoleAnswer> {
    return this.call('POST', `/console/api${path}`, body, options);
  }

  async call(method: string, path: string, body?: unknown, options: { csrf?: string | false; origin?: string; site?: string } = {}): Promise<ConsoleAnswer> {
    const csrf = options.csrf === undefined ? this.csrf : options.csrf;
    const response = await fetch(`${this.baseUrl}${path}`, {
      method,
      headers: {
        ...(this.cookie === undefined ? {} : { cookie: this.cookie }),
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...(method !== 'GET' && csrf !== false && csrf !== undefined ? { 'x-csrf-token': csrf } : {}),
        ...(options.origin === undefined ? {} : { origin: options.origin }),
        ...(options.site === undefined ? {} : { 'sec-fetch-site': options.site }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    let parsed: unknown = text;
    try {
      parsed = text === '' ? undefined : JSON.parse(text);
    } catch {
      // the page's HTML: kept as text
    }
    return { status: response.status, headers: response.headers, body: parsed };
  }
}

export interface ConsoleWorld {
  readonly deployment: Deployment;
  readonly url: string;
  /** The deployment's Redis and key prefix, to look at what the console keeps there. */
  readonly redis: Redis;
  readonly prefix: string;
  /** acme (the deployment's tenant) and globex. */
  readonly keys: { readonly acmeAdmin: string; readonly acmePii: string; readonly globexAdmin: string; readonly operator: string; readonly acmeSend: string };
  client(): ConsoleClient;
  /** Logs a new client in with `key`; throws unless the login succeeds. */
  as(key: string): Promise<ConsoleClient>;
}

export async function consoleWorld(options: DeploymentOptions = {}): Promise<ConsoleWorld> {
  const deployment = await startDeployment(options);
  await deployment.addTenant('globex');
  const [acmeAdmin, acmePii, globexAdmin, operator, acmeSend] = await Promise.all([
    keyWith(deployment, ['admin']),
    keyWith(deployment, ['admin', 'pii']),
    keyWith(deployment, ['admin'], 'globex'),
    // The operator's own tenant: keys of the operator scope live in one, like any key.
    keyWith(deployment, ['operator'], 'ops'),
    keyWith(deployment, ['send', 'read']),
  ]);
  const url = deployment.ingest.url;
  const redis = new Redis(stackEnv().redisUrl, { maxRetriesPerRequest: 1 });
  after(() => redis.quit());
  return {
    deployment,
    url,
    redis,
    prefix: deployment.env['COMMSTRAT_REDIS_PREFIX'] ?? '',
    keys: { acmeAdmin, acmePii, globexAdmin, operator, acmeSend },
    client: () => new ConsoleClient(url),
    async as(key) {
      const client = new ConsoleClient(url);
      const answer = await client.login(key);
      if (answer.status !== 200) throw new Error(`console login failed: ${answer.status} ${JSON.stringify(answer.body)}`);
      return client;
    },
  };
}

export const smsTo = (phone: string, text: string, extra: object = {}) => ({ channel: 'sms', recipient: { phone }, content: { text }, ...extra });

/** Sends a message as the tenant's `send` key and waits until the dispatcher has sent it to the sandbox. */
export async function sentMessage(world: ConsoleWorld, key: string, body: object): Promise<string> {
  const response = await fetch(`${world.url}/v1/messages`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const accepted = (await response.json()) as { id: string };
  if (response.status !== 202) throw new Error(`not accepted: ${JSON.stringify(accepted)}`);
  await eventually('the message to be sent', async () => {
    const [message] = await world.deployment.journal.findMessages([accepted.id]);
    return message?.status === 'sent' || message?.status === 'delivered' ? true : undefined;
  });
  return accepted.id;
}

/** A failed message of `tenant` in the journal with its dead-letter entry, as the dispatcher leaves them. */
export async function deadLetter(world: ConsoleWorld, tenant: string, entry: { code: string; provider: string } = { code: 'provider_unavailable', provider: `${tenant}/sandbox-sms` }): Promise<Message> {
  const message = await journalFinished(world.deployment.journal, { tenant, status: 'failed', reason: 'gave up after 3 attempts: sandbox answered 503' });
  await world.deployment.lanes.deadLetter([{ message: { ...toQueuedMessage(message), attempts: 3 }, reason: 'gave up after 3 attempts: sandbox answered 503', ...entry }]);
  return message;
}

/** Saves versions of a strategy as the tenant's admin over /v1/admin, the way an operator's CI would. */
export async function saveStrategyVersions(world: ConsoleWorld, adminKey: string, name: string, definitions: readonly object[]): Promise<void> {
  for (const definition of definitions) {
    const response = await fetch(`${world.url}/v1/admin/strategies`, {
      method: 'POST',
      headers: { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name, ...definition }),
    });
    if (response.status !== 201) throw new Error(`strategy not saved: ${response.status} ${await response.text()}`);
  }
}
