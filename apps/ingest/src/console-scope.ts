import type { ErrorRequestHandler, RequestHandler, Response } from 'express';
import { MongoError } from 'mongodb';
import { DependencyUnavailableError, NotFoundError, ValidationError } from '@commstrat/core';
import { findTenant, type Tenant } from '@commstrat/config';
import { createMasker, type Masker } from '@commstrat/observability';
import type { Sql } from 'postgres';
import { TENANT_ID_PATTERN } from './admin-schemas.ts';
import { journalInputFault } from './dependency-failure.ts';
import { principalOf, type ConsolePrincipal } from './console-session.ts';

// Phone numbers and e-mail addresses partly hidden (`+7916*****67`, `a*****@example.com`),
// chat ids wholly; message text shown. Credentials are hidden from every key.
export const MASKED = createMasker({ phone: 'partial', email: 'partial', text: 'off', fields: ['chat_id'] });
const CLEAR = createMasker({ phone: 'off', email: 'off', text: 'off' });

/** What a principal may see of a value: recipients masked unless its key has `pii`. */
export function shownTo(principal: ConsolePrincipal): Masker {
  return principal.pii ? CLEAR : MASKED;
}

/** The tenant a console request is about: `?tenant=` for an operator, the key's own for anyone else. */
export function scopeOf(res: Response): string | undefined {
  return (res.locals as { consoleTenant?: string }).consoleTenant;
}

/**
 * Resolves `?tenant=`. An admin key's own tenant whatever it names: another tenant's id
 * answers 404, as an id that does not exist. An operator key may name any tenant that
 * exists; without one, `required` routes answer 422 and the others cover every tenant.
 * The tenant in scope becomes the request's tenant (`res.locals.tenant`) with the key's
 * id and scopes, so the admin API's handlers act on it and audit the key.
 */
export function scopeTenant(sql: Sql, required: boolean): RequestHandler {
  return async (req, res, next) => {
    const principal = principalOf(res);
    const named = req.query['tenant'];
    if (named !== undefined && (typeof named !== 'string' || !new RegExp(TENANT_ID_PATTERN).test(named))) {
      throw new ValidationError([{ path: '/tenant', message: 'must be one tenant id' }]);
    }
    let tenant: Tenant | undefined;
    if (!principal.operator) {
      if (named !== undefined && named !== principal.tenant.id) throw new NotFoundError(`tenant ${named}`);
      tenant = principal.tenant;
    } else if (named !== undefined) {
      const found = await findTenant(sql, named);
      if (found === null) throw new NotFoundError(`tenant ${named}`);
      tenant = { id: found.id, name: found.name };
    } else if (required) {
      throw new ValidationError([{ path: '/tenant', message: 'is required: the tenant to show (an operator key sees every tenant)' }]);
    }
    if (tenant !== undefined) {
      const { scopes, keyId } = principal.tenant;
      res.locals['tenant'] = { id: tenant.id, name: tenant.name, ...(scopes === undefined ? {} : { scopes }), ...(keyId === undefined ? {} : { keyId }) };
      res.locals['consoleTenant'] = tenant.id;
    }
    next();
  };
}

/** A read of Redis (lanes, dead letters, heartbeats) whose failure is `503 dependency_unavailable`, not a bug. */
export async function fromRedis<T>(read: () => Promise<T>): Promise<T> {
  try {
    return await read();
  } catch (cause) {
    throw new DependencyUnavailableError('queue state (Redis)', cause);
  }
}

/**
 * The console's reads of the journal failing (a timeout, the server gone) answer
 * `503 dependency_unavailable`, which a retry may outlast, as the API's intake does,
 * not `500 internal`. A query the journal refuses (a bad value, an argument the driver
 * rejects) fails the same way on every retry: the console built it from checked input,
 * so it is our bug and stays `500 internal`, never "unavailable".
 */
export const journalUnavailable: ErrorRequestHandler = (error: unknown, _req, _res, next) => {
  next(error instanceof MongoError && !journalInputFault(error) ? new DependencyUnavailableError('journal (MongoDB)', error) : error);
};
