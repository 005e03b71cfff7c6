import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import express, { type Request, type RequestHandler, type Response, type Router } from 'express';
import { CsrfError, DependencyUnavailableError, ForbiddenError, UnauthorizedError } from '@commstrat/core';
import { hashApiKey, type TenantCache, type Tenant } from '@commstrat/config';
import type { Redis } from 'ioredis';
import { checkBody } from './admin-schemas.ts';
import { state } from './v1-routes.ts';

/** The cookie that carries a console session's id; scoped to the console's path. */
export const SESSION_COOKIE = 'commstrat_console';
/** The header a changing console request carries its session's CSRF token in. */
export const CSRF_HEADER = 'x-csrf-token';

export interface ConsoleSessionOptions {
  /** Redis key prefix; sessions are `<prefix>console:session:<digest of the id>`. */
  readonly prefix: string;
  /** A session unused this long ends, seconds. Default 1 800. */
  readonly idleSeconds: number;
  /** A session ends this long after its login whatever its use, seconds. Default 43 200. */
  readonly maxSeconds: number;
  /** Mark the cookie `Secure`. Default true; browsers keep Secure cookies of http://localhost too. */
  readonly secureCookie: boolean;
}

/** Who a console request is made by: the key it logged in with, never the key itself. */
export interface ConsolePrincipal {
  /** The key's own tenant, with the key's scopes and id. */
  readonly tenant: Tenant;
  /** An `operator` key sees every tenant; any other console key its own only. */
  readonly operator: boolean;
  /** The key has `pii`: recipients' phone numbers and e-mail addresses are shown unmasked. */
  readonly pii: boolean;
  readonly csrfToken: string;
}

/** What Redis keeps of a session: the key's digest (never the key), its CSRF token and when it began. */
interface StoredSession {
  readonly key_sha256: string;
  readonly csrf: string;
  readonly created_at: number;
}

const loginSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['api_key'],
  properties: { api_key: { type: 'string', minLength: 1, maxLength: 200, description: 'an API key with the admin or operator scope' } },
} as const;

/**
 * Console sessions in Redis, shared by every ingest replica. A session holds the SHA-256
 * digest of the key it logged in with, so each request is authenticated again through
 * the API's own key cache: a key revoked on the API ends its console sessions with the
 * same NOTIFY. The session id is 32 random bytes; Redis keeps only its digest, so a copy
 * of Redis opens no session. Owns no connection.
 */
export class ConsoleSessions {
  private readonly redis: Redis;
  private readonly tenants: Pick<TenantCache, 'tenantForKey' | 'tenantForKeyDigest'>;
  readonly options: ConsoleSessionOptions;

  constructor(redis: Redis, tenants: Pick<TenantCache, 'tenantForKey' | 'tenantForKeyDigest'>, options: ConsoleSessionOptions) {
    this.redis = redis;
    this.tenants = tenants;
    this.options = options;
  }

  private key(sessionId: string): string {
    return `${this.options.prefix}console:session:${createHash('sha256').update(sessionId).digest('base64url')}`;
  }

  /** Checks the key and opens a session for it; the id goes in the cookie, the principal to the page. */
  async login(apiKey: string): Promise<{ sessionId: string; principal: ConsolePrincipal }> {
    const tenant = await this.lookUp(() => this.tenants.tenantForKey(apiKey));
    if (tenant === null) throw new UnauthorizedError('API key is not valid or was revoked');
    const principal = toPrincipal(tenant, randomBytes(24).toString('base64url'));
    const sessionId = randomBytes(32).toString('base64url');
    const stored: StoredSession = { key_sha256: hashApiKey(apiKey).toString('base64'), csrf: principal.csrfToken, created_at: Date.now() };
    await this.redisCall(() => this.redis.set(this.key(sessionId), JSON.stringify(stored), 'EX', this.options.idleSeconds));
    return { sessionId, principal };
  }

  /** The session's principal, its idle time renewed; null when it ended or its key no longer works. */
  async resume(sessionId: string, now = Date.now()): Promise<ConsolePrincipal | null> {
    const key = this.key(sessionId);
    const raw = await this.redisCall(() => this.redis.getex(key, 'EX', this.options.idleSeconds));
    if (raw === null) return null;
    const stored = JSON.parse(raw) as StoredSession;
    if (now - stored.created_at > this.options.maxSeconds * 1000) {
      await this.redisCall(() => this.redis.del(key));
      return null;
    }
    const tenant = await this.lookUp(() => this.tenants.tenantForKeyDigest(Buffer.from(stored.key_sha256, 'base64')));
    if (tenant === null || !isConsoleKey(tenant)) {
      // Revoked since: the session goes with it.
      await this.redisCall(() => this.redis.del(key));
      return null;
    }
    return toPrincipal(tenant, stored.csrf);
  }

  async logout(sessionId: string): Promise<void> {
    await this.redisCall(() => this.redis.del(this.key(sessionId)));
  }

  private async lookUp(find: () => Promise<Tenant | null>): Promise<Tenant | null> {
    try {
      return await find();
    } catch (cause) {
      throw new DependencyUnavailableError('API keys (PostgreSQL)', cause);
    }
  }

  private async redisCall<T>(call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (cause) {
      throw new DependencyUnavailableError('console sessions (Redis)', cause);
    }
  }
}

function isConsoleKey(tenant: Tenant): boolean {
  return (tenant.scopes ?? []).some((scope) => scope === 'admin' || scope === 'operator');
}

function toPrincipal(tenant: Tenant, csrfToken: string): ConsolePrincipal {
  if (!isConsoleKey(tenant)) throw new ForbiddenError('admin" or "operator');
  const scopes = tenant.scopes ?? [];
  return { tenant, operator: scopes.includes('operator'), pii: scopes.includes('pii'), csrfToken };
}

/** The principal of an authenticated console request. */
export function principalOf(res: Response): ConsolePrincipal {
  const principal = (res.locals as { console?: ConsolePrincipal }).console;
  if (principal === undefined) throw new Error('console route reached without a session');
  return principal;
}

/** The body of `/console/api/session` and of a login: what the page needs to know of its user. */
export function sessionView(principal: ConsolePrincipal): Record<string, unknown> {
  return {
    tenant: { id: principal.tenant.id, name: principal.tenant.name },
    key_id: principal.tenant.keyId ?? null,
    scopes: principal.tenant.scopes ?? [],
    role: principal.operator ? 'operator' : 'admin',
    pii: principal.pii,
    csrf_token: principal.csrfToken,
  };
}

/**
 * /console/api/login, /logout and /session, then a guard for every other console API
 * route: a session cookie that resumes, and on anything but GET and HEAD the session's
 * CSRF token and a same-origin request. SameSite=Strict keeps the cookie off other
 * sites' requests already; the token and the origin check hold where a browser does not.
 */
export function sessionRoutes(sessions: ConsoleSessions, parseJson: RequestHandler[]): { routes: Router; requireSession: RequestHandler } {
  const routes = express.Router();
  const cookie = (value: string, maxAgeSeconds: number) =>
    [
      `${SESSION_COOKIE}=${value}`,
      'Path=/console',
      'HttpOnly',
      'SameSite=Strict',
      ...(sessions.options.secureCookie ? ['Secure'] : []),
      `Max-Age=${maxAgeSeconds}`,
    ].join('; ');

  routes.post('/login', sameOrigin, ...parseJson, async (req, res) => {
    const { api_key: apiKey } = checkBody<{ api_key: string }>(loginSchema, req.body);
    const { sessionId, principal } = await sessions.login(apiKey);
    state(res).logger.info('console login', { tenant_id: principal.tenant.id, key_id: principal.tenant.keyId, role: principal.operator ? 'operator' : 'admin' });
    res.set('set-cookie', cookie(sessionId, sessions.options.maxSeconds));
    res.json(sessionView(principal));
  });

  const requireSession: RequestHandler = async (req, res, next) => {
    const sessionId = sessionIdOf(req);
    const principal = sessionId === undefined ? null : await sessions.resume(sessionId);
    if (principal === null) throw new UnauthorizedError('no console session, or it ended: log in with an admin or operator API key');
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      checkOrigin(req);
      if (!sameToken(req.get(CSRF_HEADER), principal.csrfToken)) throw new CsrfError();
    }
    (res.locals as { console?: ConsolePrincipal }).console = principal;
    state(res).logger = state(res).logger.child({ tenant_id: principal.tenant.id, key_id: principal.tenant.keyId });
    next();
  };

  routes.post('/logout', requireSession, async (req, res) => {
    const sessionId = sessionIdOf(req);
    if (sessionId !== undefined) await sessions.logout(sessionId);
    res.set('set-cookie', cookie('', 0));
    res.status(204).end();
  });

  routes.get('/session', requireSession, (_req, res) => {
    res.json(sessionView(principalOf(res)));
  });
  return { routes, requireSession };
}

/** The session id from the Cookie header, if one is there and looks like ours. */
function sessionIdOf(req: Request): string | undefined {
  for (const part of (req.get('cookie') ?? '').split(';')) {
    const [name, value] = part.trim().split('=', 2);
    if (name === SESSION_COOKIE && value !== undefined && /^[\w-]{43}$/.test(value)) return value;
  }
  return undefined;
}

function sameToken(given: string | undefined, expected: string): boolean {
  if (given === undefined) return false;
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * A changing request from a page of another origin is refused, whatever it carries:
 * browsers send `Origin` on every cross-origin POST and `Sec-Fetch-Site` on all. Both
 * absent (curl, a script): nothing to compare, the CSRF token decides.
 */
function checkOrigin(req: Request): void {
  const site = req.get('sec-fetch-site');
  if (site !== undefined && site !== 'same-origin' && site !== 'none') throw new CsrfError(`refused a ${site} request: the console takes changes from its own pages only`);
  const origin = req.get('origin');
  if (origin === undefined) return;
  let host: string | undefined;
  try {
    host = new URL(origin).host;
  } catch {
    host = undefined;
  }
  if (host !== req.get('host')) throw new CsrfError(`refused a request from origin ${origin}: the console takes changes from its own pages only`);
}

const sameOrigin: RequestHandler = (req, _res, next) => {
  checkOrigin(req);
  next();
};
