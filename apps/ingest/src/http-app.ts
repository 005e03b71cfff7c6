import express, {
  type ErrorRequestHandler,
  type Express,
  type NextFunction,
  type Request,
  type RequestHandler,
  type Response,
} from 'express';
import {
  BatchRejectedError,
  CommstratError,
  DependencyUnavailableError,
  RateLimitedError,
  MalformedJsonError,
  NotFoundError,
  PayloadTooLargeError,
  UnauthorizedError,
  UnsupportedMediaTypeError,
  newId,
} from '@commstrat/core';
import type { TenantCache } from '@commstrat/config';
import type { ProviderRateLimiter } from '@commstrat/queue';
import type { Journal } from '@commstrat/journal';
import {
  monitoringRouter,
  type IngestMetrics,
  type Logger,
  type ReadinessCheck,
  type Registry,
} from '@commstrat/observability';
import type { Intake } from './intake.ts';
import { openApiRouter } from './openapi.ts';
import { adminRoutes, type AdminDeps } from './admin-routes.ts';
import { state, v1Routes } from './v1-routes.ts';

export interface IngestAppDeps {
  readonly intake: Intake;
  readonly journal: Journal;
  readonly tenants: Pick<TenantCache, 'tenantForKey'>;
  readonly registry: Registry;
  readonly metrics: IngestMetrics;
  readonly logger: Logger;
  readonly checks: Readonly<Record<string, ReadinessCheck>>;
  readonly maxBodyBytes: number;
  readonly maxBatchMessages: number;
  /** Per-tenant request rate, shared by all replicas through Redis. */
  /** The /v1/admin routes; absent: not served. */
  readonly admin?: AdminDeps;
  readonly tenantRateLimit: {
    readonly limiter: Pick<ProviderRateLimiter, 'take'>;
    readonly ratePerSecond: number;
    readonly burst: number;
  };
}


/** The ingest HTTP API. Every error answers JSON `{ error: { code, message, problems? } }`. */
export function createIngestApp(deps: IngestAppDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.use(monitoringRouter({ registry: deps.registry, checks: deps.checks }));
  app.use(openApiRouter());
  app.use(requestContext(deps));

  const v1 = express.Router();
  v1.use(authenticate(deps));
  // Before the message routes, so /v1/admin/* never falls through to them.
  if (deps.admin !== undefined) v1.use('/admin', adminRoutes(deps.admin, [requireJson, parseJson(deps.maxBodyBytes)]));
  v1.use(v1Routes(deps, [requireJson, parseJson(deps.maxBodyBytes)]));
  app.use('/v1', v1);

  app.use((_req, _res, next) => next(new NotFoundError('route')));
  app.use(errorHandler());
  return app;
}

function requestContext(deps: IngestAppDeps): RequestHandler {
  return (req, res, next) => {
    const header = req.get('x-request-id');
    const requestId = header !== undefined && /^[\w.-]{1,100}$/.test(header) ? header : newId();
    res.set('x-request-id', requestId);
    state(res).requestId = requestId;
    state(res).logger = deps.logger.child({ request_id: requestId });
    const stop = deps.metrics.requestDuration.startTimer({ method: req.method });
    res.on('finish', () => {
      const matched = req.route as { path?: unknown } | undefined;
      const route = matched === undefined ? 'unmatched' : `${req.baseUrl}${String(matched.path)}`;
      stop({ route, status: String(res.statusCode) });
    });
    next();
  };
}

function authenticate(deps: IngestAppDeps): RequestHandler {
  return async (req, res, next) => {
    const match = /^Bearer\s+(\S+)$/i.exec(req.get('authorization') ?? '');
    if (match === null) throw new UnauthorizedError();
    const tenant = await deps.tenants.tenantForKey(match[1]!).catch((error: unknown) => {
      throw new DependencyUnavailableError('API keys (PostgreSQL)', error);
    });
    if (tenant === null) throw new UnauthorizedError('API key is not valid or was revoked');
    state(res).tenant = tenant;
    state(res).logger = state(res).logger.child({ tenant_id: tenant.id });
    const { limiter, ratePerSecond, burst } = deps.tenantRateLimit;
    let grant;
    try {
      grant = await limiter.take(`tenant:${tenant.id}`, 1, ratePerSecond, burst);
    } catch (error) {
      // Fail open: with Redis down, reads still work and writes fail on their own with
      // 503; refusing everything here would turn a queue outage into an API outage.
      state(res).logger.warn('tenant rate limit not applied: Redis unavailable', { error: String(error) });
      next();
      return;
    }
    if (grant.granted === 0) {
      throw new RateLimitedError(
        `tenant request rate of ${ratePerSecond}/s exceeded`,
        Math.max(1, Math.ceil(grant.waitMs / 1000)),
      );
    }
    next();
  };
}

const requireJson: RequestHandler = (req, _res, next) => {
  if (!req.is('application/json')) throw new UnsupportedMediaTypeError(req.get('content-type'));
  next();
};

function parseJson(limit: number): RequestHandler {
  const parser = express.json({ limit, type: () => true });
  return (req, res, next) => {
    parser(req, res, (error?: unknown) => {
      if (error === undefined) return next();
      const type = (error as { type?: string }).type;
      if (type === 'entity.too.large') return next(new PayloadTooLargeError(limit));
      if (type === 'entity.parse.failed') return next(new MalformedJsonError(error));
      next(error);
    });
  };
}

function errorHandler(): ErrorRequestHandler {
  return (error: unknown, _req: Request, res: Response, _next: NextFunction) => {
    const { requestId, logger } = state(res);
    if (error instanceof CommstratError) {
      if (error.httpStatus >= 500) logger.warn(error.message, { code: error.code, cause: String(error.cause) });
      if (error.retryAfterSeconds !== undefined) res.set('retry-after', String(Math.ceil(error.retryAfterSeconds)));
      const extra = error instanceof BatchRejectedError ? { rejected: error.items } : {};
      res.status(error.httpStatus).json({ ...error.toJSON(), ...extra, request_id: requestId });
      return;
    }
    logger.error('unhandled error', { error: error instanceof Error ? error.stack : String(error) });
    res.status(500).json({ error: { code: 'internal', message: 'internal error' }, request_id: requestId });
  };
}
