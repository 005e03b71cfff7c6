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
  MethodNotAllowedError,
  RateLimitedError,
  NotFoundError,
  PayloadTooLargeError,
  UnauthorizedError,
  UnsupportedMediaTypeError,
  newId,
  parseJsonInput,
  type JsonInputLimits,
} from '@commstrat/core';
import type { TenantCache } from '@commstrat/config';
import type { ProviderRateLimiter } from '@commstrat/queue';
import type { InboundStore, Journal } from '@commstrat/journal';
import {
  MONITORING_ROUTES,
  errorResponse,
  methodGuard,
  monitoringRouter,
  type IngestMetrics,
  type ProcessInfo,
  type RouteTable,
  type Logger,
  type ReadinessCheck,
  type Registry,
} from '@commstrat/observability';
import type { Intake } from './intake.ts';
import { openApiDocument, openApiRouter } from './openapi.ts';
import { receiptRoutes, type ReceiptDeps } from './receipt-routes.ts';
import { adminRoutes, type AdminDeps } from './admin-routes.ts';
import { inboundListRoutes, inboundRoutes, type InboundDeps } from './inbound-routes.ts';
import { preferenceRoutes, type PreferencePort } from './preference-routes.ts';
import { consoleRoutes, type ConsoleDeps } from './console-routes.ts';
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
  /** Deepest nesting of objects and arrays in a body. */
  readonly maxJsonDepth: number;
  readonly maxBatchMessages: number;
  /** What `/info` answers. */
  readonly info: ProcessInfo;
  /** Per-tenant request rate, shared by all replicas through Redis. */
  /** The /v1/admin routes; absent: not served. */
  readonly admin?: AdminDeps;
  /** The operator console under /console; absent: not served. */
  readonly console?: ConsoleDeps;
  readonly tenantRateLimit: {
    readonly limiter: Pick<ProviderRateLimiter, 'take'>;
    readonly ratePerSecond: number;
    readonly burst: number;
  };
  /** The recipients' opt-outs (/v1/preferences). */
  readonly preferences: PreferencePort;
  /** Inbound messages: posted by providers (signed as receipts are), listed by tenants. */
  readonly inbound: Omit<InboundDeps, 'metrics' | 'maxBodyBytes'> & { readonly store: Pick<InboundStore, 'list'> };
  /** Delivery receipts: signed by each provider's secret instead of an API key. */
  readonly receipts: Omit<ReceiptDeps, 'metrics' | 'maxBodyBytes'>;
}


/** The ingest HTTP API. Every error answers JSON `{ error: { code, message, problems? } }`. */
export function createIngestApp(deps: IngestAppDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.use(monitoringRouter({ registry: deps.registry, checks: deps.checks, info: deps.info }));
  app.use(openApiRouter());
  app.use(requestContext(deps));
  app.use(methodGuard({ ...MONITORING_ROUTES, ...OPENAPI_ROUTES, ...documentedRoutes(openApiDocument()) }));

  const jsonBody = [requireJson, parseJson({ maxBytes: deps.maxBodyBytes, maxDepth: deps.maxJsonDepth })];
  if (deps.console !== undefined) app.use('/console', consoleRoutes(deps.console, jsonBody));
  app.use('/v1', receiptRoutes({ ...deps.receipts, metrics: deps.metrics, maxBodyBytes: deps.maxBodyBytes }));
  app.use('/v1', inboundRoutes({ ...deps.inbound, metrics: deps.metrics, maxBodyBytes: deps.maxBodyBytes }));
  const v1 = express.Router();
  v1.use(authenticate(deps));
  // Before the message routes, so /v1/admin/* never falls through to them.
  if (deps.admin !== undefined) v1.use('/admin', adminRoutes(deps.admin, jsonBody));
  v1.use(preferenceRoutes(deps.preferences, jsonBody));
  v1.use(inboundListRoutes(deps.inbound.store));
  v1.use(v1Routes(deps, jsonBody));
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
    const answered = deps.metrics.httpRequest(req.method);
    res.on('finish', () => {
      const matched = req.route as { path?: unknown } | undefined;
      answered(matched === undefined ? 'unmatched' : `${req.baseUrl}${String(matched.path)}`, res.statusCode);
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
  // JSON is UTF-8 (RFC 8259); a body declared in another charset is not decoded as one.
  const charset = /;\s*charset\s*=\s*"?([^";\s]+)/i.exec(req.get('content-type') ?? '')?.[1];
  if (charset !== undefined && !/^utf-?8$/i.test(charset)) throw new UnsupportedMediaTypeError(req.get('content-type'));
  next();
};

/**
 * Reads the body as bytes and parses it by the rule Kafka record values follow too
 * (core's parseJsonInput): size, strict UTF-8, nesting depth, JSON. express.json would
 * decode bad bytes to U+FFFD and parse any depth.
 */
function parseJson(limits: JsonInputLimits): RequestHandler {
  const reader = express.raw({ limit: limits.maxBytes, type: () => true });
  return (req, res, next) => {
    reader(req, res, (error?: unknown) => {
      if (error !== undefined) {
        const type = (error as { type?: string }).type;
        if (type === 'entity.too.large') return next(new PayloadTooLargeError(limits.maxBytes));
        if (type === 'encoding.unsupported') return next(new UnsupportedMediaTypeError(req.get('content-encoding')));
        return next(error);
      }
      try {
        const body: unknown = req.body;
        req.body = parseJsonInput(Buffer.isBuffer(body) ? body : Buffer.alloc(0), limits);
      } catch (parseError) {
        return next(parseError);
      }
      next();
    });
  };
}

/** The paths of the OpenAPI document with their methods, for the 405 guard. */
function documentedRoutes(document: Record<string, unknown>): RouteTable {
  const paths = (document['paths'] ?? {}) as Record<string, Record<string, unknown>>;
  return Object.fromEntries(Object.entries(paths).map(([path, operations]) => [path, Object.keys(operations).map((m) => m.toUpperCase())]));
}

const OPENAPI_ROUTES: RouteTable = { '/openapi.json': ['GET'], '/docs': ['GET'] };

function errorHandler(): ErrorRequestHandler {
  return (error: unknown, _req: Request, res: Response, _next: NextFunction) => {
    const { requestId, logger } = state(res);
    if (error instanceof CommstratError) {
      if (error.httpStatus >= 500) logger.warn(error.message, { code: error.code, cause: String(error.cause) });
      if (error.retryAfterSeconds !== undefined) res.set('retry-after', String(Math.ceil(error.retryAfterSeconds)));
      const extra = error instanceof BatchRejectedError ? { rejected: error.items } : {};
      if (error instanceof MethodNotAllowedError) res.set('allow', error.allowed.join(', '));
      res.status(error.httpStatus).json({ ...error.toJSON(), ...extra, request_id: requestId });
      return;
    }
    // Express's own 4xx (a path that does not decode, a body cut short) keep their status.
    const { status, body } = errorResponse(error);
    if (status >= 500) logger.error('unhandled error', { error: error instanceof Error ? error.stack : String(error) });
    res.status(status).json({ ...body, request_id: requestId });
  };
}
