import type { Request, RequestHandler, Response } from 'express';
import { ForbiddenError, ValidationError } from '@commstrat/core';
import type { ApiKeyScope, Tenant } from '@commstrat/config';

// res.locals as v1-routes' RequestState holds it; read here directly, so that v1-routes
// can use requireScope without an import cycle.
const tenantOf = (res: Response): Tenant | undefined => (res.locals as { tenant?: Tenant }).tenant;

/**
 * Refuses with 403 a request whose API key lacks `scope`. Mounted after authenticate,
 * before any body is read, so a key without the scope learns nothing of the route.
 */
export function requireScope(scope: ApiKeyScope): RequestHandler {
  return (_req, res, next) => {
    if (!(tenantOf(res)?.scopes ?? []).includes(scope)) throw new ForbiddenError(scope);
    next();
  };
}

/** The authenticated tenant of an admin route. */
export function callerOf(res: Response): Tenant {
  const tenant = tenantOf(res);
  if (tenant === undefined) throw new Error('admin route reached without authentication');
  return tenant;
}

/** Who the audit log names for the caller: its key's id, never the key. */
export function actorOf(res: Response): string {
  return `api-key:${callerOf(res).keyId ?? 'unknown'}`;
}

/**
 * A named path parameter (`:id`) as a string. Express types a route's parameters from
 * its path only when every handler is inline, so a route with a scope check or the
 * body parser in front of its handler sees them as `string | string[]`. A NUL (`%00`)
 * is refused here, naming the parameter: no id or name holds one, and PostgreSQL text
 * cannot, so the lookup would fail with 500 instead.
 */
export function pathParam(req: Pick<Request, 'params'>, name: string): string {
  const value = req.params[name];
  if (typeof value !== 'string') return '';
  if (value.includes('\0')) throw new ValidationError([{ path: `/${name}`, message: 'the path parameter cannot hold a NUL character' }]);
  return value;
}
