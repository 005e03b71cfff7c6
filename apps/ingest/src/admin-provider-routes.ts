import express, { type Request, type Response, type Router } from 'express';
import { NotFoundError, ValidationError } from '@commstrat/core';
import {
  definitionSource,
  findProvider,
  findProviderDefinition,
  listProviderDefinitions,
  listProviderDefinitionVersions,
  listTenantProviders,
  maskCredentials,
  putProvider,
  saveProviderDefinition,
  type Provider,
  type PutProviderOptions,
  type StoredProviderDefinition,
  type Tenant,
} from '@commstrat/config';
import type { Sql } from 'postgres';
import type { EgressChecks } from './egress-checks.ts';
import { pathParam } from './route-support.ts';
import { showVersion } from './version-routes.ts';
import { state } from './v1-routes.ts';

const YAML_TYPES = ['application/yaml', 'application/x-yaml', 'text/yaml'];
/** A definition is a page or two; the Infobip one is 2 kB. */
const MAX_YAML_BYTES = 256 * 1024;

/**
 * /v1/admin/providers and /v1/admin/provider-definitions: a tenant's providers and its
 * stored, versioned provider definitions. Mounted behind the admin-scope check of
 * adminRoutes. Credentials are never answered in full (maskCredentials). Every change is
 * audited and reaches every replica by NOTIFY (migrations 004, 009).
 */
export function providerRoutes(sql: Sql, egress: EgressChecks, parseJson: express.RequestHandler[]): Router {
  const router = express.Router();
  const checkTargets: NonNullable<PutProviderOptions['checkTargets']> = (provider, definition, inline) =>
    egress.providerProblems(provider, definition, inline);

  router.get('/providers', async (_req, res) => {
    const providers = await listTenantProviders(sql, tenantOf(res).id);
    res.json({ providers: providers.map(providerView) });
  });

  // Before /providers/:id, so "validate" is never taken for an id.
  router.post('/providers/validate', ...parseJson, async (req, res) => {
    const body: unknown = req.body;
    const id = typeof body === 'object' && body !== null && 'id' in body ? body.id : undefined;
    if (typeof id !== 'string' || id === '') throw new ValidationError([{ path: '/id', message: 'is required: the provider id it would be saved under' }]);
    const result = await putProvider(sql, tenantOf(res).id, id, body, { dryRun: true, checkTargets });
    res.json({
      valid: true,
      created: result.created,
      changed: result.changed,
      provider: providerView(result.provider),
      ...(result.definition === undefined ? {} : { definition: { name: result.definition.stored.name, version: result.definition.stored.version, new_version: result.definition.created } }),
    });
  });

  router.get('/providers/:id', async (req, res) => {
    const id = pathParam(req, 'id');
    const provider = await findProvider(sql, tenantOf(res).id, id);
    if (provider === null) throw new NotFoundError(`provider ${id}`);
    res.json(providerView(provider));
  });

  router.put('/providers/:id', ...parseJson, async (req, res) => {
    const tenant = tenantOf(res);
    const id = pathParam(req, 'id');
    const result = await putProvider(sql, tenant.id, id, req.body, { actor: actorOf(tenant), checkTargets });
    if (result.changed) {
      state(res).logger.info(result.created ? 'provider created' : 'provider changed', {
        provider: id,
        kind: result.provider.kind,
        definition_version: result.provider.storedDefinition?.version,
      });
    }
    res.status(result.created ? 201 : 200).json(providerView(result.provider));
  });

  router.get('/provider-definitions', async (_req, res) => {
    const definitions = await listProviderDefinitions(sql, tenantOf(res).id);
    res.json({ definitions: definitions.map(definitionView) });
  });

  router.get(
    '/provider-definitions/:name',
    showVersion('provider definition', (tenantId, name, version) => findProviderDefinition(sql, tenantId, name, version), definitionView),
  );

  router.get('/provider-definitions/:name/versions', async (req, res) => {
    const name = pathParam(req, 'name');
    const versions = await listProviderDefinitionVersions(sql, tenantOf(res).id, name);
    if (versions.length === 0) throw new NotFoundError(`provider definition ${name}`);
    res.json({ name, versions: versions.map((v) => ({ version: v.version, created_by: v.createdBy, created_at: v.createdAt.toISOString() })) });
  });

  const saveDefinition = async (req: Request, res: Response) => {
    const tenant = tenantOf(res);
    const name = pathParam(req, 'name');
    // A YAML body arrives as its text, a JSON one parsed: the definition parser reads both.
    const { stored, created } = await saveProviderDefinition(sql, tenant.id, req.body, { name, actor: actorOf(tenant), check: (definition) => egress.definitionProblems(definition) });
    if (created) state(res).logger.info('provider definition saved', { definition: name, version: stored.version });
    res.status(created ? 201 : 200).json(definitionView(stored));
  };
  // A definition file as it is written, `curl --data-binary @file.yaml`; any other body
  // goes on to the JSON route below, with its size, depth and encoding checks.
  router.put(
    '/provider-definitions/:name',
    (req, _res, next) => next(req.is(YAML_TYPES) ? undefined : 'route'),
    express.text({ type: YAML_TYPES, limit: MAX_YAML_BYTES }),
    saveDefinition,
  );
  router.put('/provider-definitions/:name', ...parseJson, saveDefinition);
  return router;
}

function tenantOf(res: Response): Tenant {
  const tenant = state(res).tenant;
  if (tenant === undefined) throw new Error('admin route reached without authentication');
  return tenant;
}

function actorOf(tenant: Tenant): string {
  return `api-key:${tenant.keyId ?? 'unknown'}`;
}

/** A provider as the API shows it: snake_case, credentials masked, where its definition comes from. */
export function providerView(provider: Provider): Record<string, unknown> {
  const source = definitionSource(provider);
  return {
    id: provider.id,
    kind: provider.kind,
    definition:
      source === 'adapter'
        ? null
        : { source, name: provider.kind, version: provider.storedDefinition?.version ?? null },
    endpoint: provider.endpoint,
    credentials: maskCredentials(provider.credentials),
    rate_per_second: provider.ratePerSecond,
    concurrency: provider.concurrency,
    max_batch_size: provider.maxBatchSize,
    linger_ms: provider.lingerMs,
    timeout_ms: provider.timeoutMs,
    enabled: provider.enabled,
    prices: provider.prices,
  };
}

export function definitionView(stored: StoredProviderDefinition): Record<string, unknown> {
  return {
    name: stored.name,
    version: stored.version,
    created_by: stored.createdBy,
    created_at: stored.createdAt.toISOString(),
    definition: stored.definition,
  };
}
