import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Router } from 'express';
import type { TemplateRenderer } from '@commstrat/templates';
import type { Sql } from 'postgres';
import type { EgressChecks } from './egress-checks.ts';
import { adminRoutes } from './admin-routes.ts';
import { openApiDocument } from './openapi.ts';

interface Layer {
  route?: { path: string; methods: Record<string, boolean> };
  handle?: { stack?: Layer[] };
  rawPath?: unknown;
}

/** Every `METHOD /path` a router serves, its parameters written `{name}` as OpenAPI does. */
function servedRoutes(router: { stack: Layer[] }, prefix: string): string[] {
  return router.stack.flatMap((layer) => {
    if (layer.route !== undefined) {
      const path = `${prefix}${layer.route.path}`.replace(/:(\w+)/g, '{$1}').replace(/(.)\/$/, '$1');
      return Object.keys(layer.route.methods).map((method) => `${method.toUpperCase()} ${path}`);
    }
    const stack = layer.handle?.stack;
    if (stack === undefined) return [];
    // A router mounted without a path has the raw path '/'.
    const mountedAt = typeof layer.rawPath === 'string' && layer.rawPath !== '/' ? layer.rawPath : '';
    return servedRoutes({ stack }, `${prefix}${mountedAt}`);
  });
}

test('every /v1/admin route is in the OpenAPI document, and the document has no admin route that is not served', () => {
  // The routes are only walked, never called: no database is needed.
  const router = adminRoutes(
    { sql: undefined as unknown as Sql, renderer: undefined as unknown as TemplateRenderer, egress: undefined as unknown as EgressChecks },
    [],
  ) as Router & { stack: Layer[] };
  // A path may have two handlers for one method (JSON and YAML bodies): one operation.
  const served = [...new Set(servedRoutes(router, '/v1/admin'))].sort();
  const paths = openApiDocument()['paths'] as Record<string, Record<string, unknown>>;
  const documented = Object.entries(paths)
    .filter(([path]) => path.startsWith('/v1/admin'))
    .flatMap(([path, operations]) => Object.keys(operations).map((method) => `${method.toUpperCase()} ${path}`))
    .sort();
  assert.ok(served.length >= 15, `routes found: ${served.join(', ')}`);
  assert.deepEqual(served, documented);
});
