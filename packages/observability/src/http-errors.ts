import type { ErrorRequestHandler, NextFunction, Request, RequestHandler, Response } from 'express';
import { CommstratError, ERROR_CODES, MethodNotAllowedError, NotFoundError, type ErrorCode } from '@commstrat/core';
import type { Logger } from './logger.ts';

/** Paths a process serves, each with its methods; `{name}` marks a path parameter. */
export type RouteTable = Readonly<Record<string, readonly string[]>>;

/** The paths monitoringRouter serves, for a process's RouteTable. */
export const MONITORING_ROUTES: RouteTable = {
  '/metrics': ['GET'],
  '/health/live': ['GET'],
  '/health/ready': ['GET'],
  '/info': ['GET'],
};

/**
 * Answers a known path asked with a method it does not have: `405` with `Allow` and
 * the JSON error, before authentication (the method is wrong whoever asks). `OPTIONS`
 * answers `204` with `Allow`. GET paths also take HEAD, as Express serves it.
 */
export function methodGuard(routes: RouteTable): RequestHandler {
  const table = Object.entries(routes).map(([path, methods]) => ({
    pattern: new RegExp(`^${path.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{[^}/]+\}/g, '[^/]+')}/?$`),
    allowed: methods.includes('GET') && !methods.includes('HEAD') ? [...methods, 'HEAD'] : [...methods],
  }));
  return (req, res, next) => {
    const route = table.find(({ pattern }) => pattern.test(req.path));
    if (route === undefined || route.allowed.includes(req.method)) return next();
    if (req.method === 'OPTIONS') {
      res.set('allow', route.allowed.join(', ')).status(204).end();
      return;
    }
    next(new MethodNotAllowedError(req.method, route.allowed));
  };
}

/** The last route of a process: anything not matched is a JSON `404 not_found`. */
export const notFound: RequestHandler = (_req, _res, next) => next(new NotFoundError('route'));

/**
 * The JSON body and status of an error: a CommstratError as registered; an error
 * Express or a body parser raised with a 4xx status (a path that does not decode, a
 * body cut short) with that status; anything else `500 internal`.
 */
export function errorResponse(error: unknown): { status: number; body: { error: Record<string, unknown> }; allow?: string } {
  if (error instanceof CommstratError) {
    return {
      status: error.httpStatus,
      body: error.toJSON(),
      ...(error instanceof MethodNotAllowedError ? { allow: error.allowed.join(', ') } : {}),
    };
  }
  const status = (error as { status?: unknown } | null)?.status;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    const code: ErrorCode = status === 404 ? 'not_found' : status === 413 ? 'payload_too_large' : status === 415 ? 'unsupported_media_type' : 'bad_request';
    const message = error instanceof Error ? error.message : String(error);
    return { status: ERROR_CODES[code].httpStatus, body: { error: { code, message } } };
  }
  return { status: 500, body: { error: { code: 'internal', message: 'internal error' } } };
}

/** The error handler of a process without its own: the JSON shape ingest answers with. */
export function jsonErrorHandler(logger?: Logger): ErrorRequestHandler {
  return (error: unknown, _req: Request, res: Response, _next: NextFunction) => {
    const { status, body, allow } = errorResponse(error);
    if (status >= 500) logger?.error('unhandled error', { error: error instanceof Error ? error.stack : String(error) });
    if (allow !== undefined) res.set('allow', allow);
    res.status(status).json(body);
  };
}
