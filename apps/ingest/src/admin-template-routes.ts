import express, { type RequestHandler, type Router } from 'express';
import { NotFoundError, ValidationError, type Channel } from '@commstrat/core';
import { findTemplate, listTemplates, listTemplateVersions, namedTemplate, rollbackTemplate, saveTemplate, type StoredTemplate } from '@commstrat/config';
import { checkTemplate, type TemplateRenderer } from '@commstrat/templates';
import type { Sql } from 'postgres';
import { checkBody, inlinePreviewSchema, rollbackSchema, templatePreviewSchema } from './admin-schemas.ts';
import { actorOf, callerOf, pathParam } from './route-support.ts';
import { checkRenders, previewTemplate, type PreviewRender } from './template-preview.ts';
import { state } from './v1-routes.ts';
import { diffVersions, requireVersion, showVersion } from './version-routes.ts';

interface PreviewBody {
  readonly variables?: Record<string, unknown>;
  readonly locale?: string;
  readonly channel?: Channel;
}

/**
 * The handlers of /v1/admin/templates, each for the tenant the request is authenticated
 * as (`res.locals.tenant`). Named, as strategyHandlers are, so that the operator console
 * serves the very same ones for its templates page (list, show, versions, diff, preview,
 * rollback). A save, and a rollback, is checked twice: statically (checkTemplate) and
 * by rendering every variant in the render worker (MJML, the sample variables, the
 * limits); nothing invalid is stored. Every save is audited and reaches every replica's
 * intake by NOTIFY.
 */
export interface TemplateHandlers {
  readonly list: RequestHandler;
  readonly validate: RequestHandler;
  readonly previewDocument: RequestHandler;
  readonly show: RequestHandler;
  readonly versions: RequestHandler;
  readonly diff: RequestHandler;
  readonly save: RequestHandler;
  readonly preview: RequestHandler;
  readonly rollback: RequestHandler;
}

export function templateHandlers(sql: Sql, renderer: TemplateRenderer): TemplateHandlers {
  const find = (tenantId: string, name: string, version?: number) => findTemplate(sql, tenantId, name, version);
  return {
    async list(_req, res) {
      res.json({ templates: (await listTemplates(sql, callerOf(res).id)).map(templateView) });
    },

    async validate(req, res) {
      const prepared = checkTemplate(req.body);
      await checkRenders(renderer, prepared);
      res.json({ valid: true, template: prepared.template });
    },

    async previewDocument(req, res) {
      const body = checkBody<PreviewBody & { template: unknown }>(inlinePreviewSchema, req.body);
      const prepared = withPath('/template', () => checkTemplate(body.template));
      res.json(previewView(prepared.template.name, undefined, body, await previewTemplate(renderer, prepared, body)));
    },

    show: showVersion('template', find, templateView),

    async versions(req, res) {
      const name = pathParam(req, 'name');
      const versions = await listTemplateVersions(sql, callerOf(res).id, name);
      if (versions.length === 0) throw new NotFoundError(`template ${name}`);
      res.json({ name, versions: versions.map((v) => ({ version: v.version, created_by: v.createdBy, created_at: v.createdAt.toISOString() })) });
    },

    diff: diffVersions('template', find, (stored) => stored.template),

    async save(req, res) {
      const name = pathParam(req, 'name');
      const document = namedTemplate(req.body, name);
      await checkRenders(renderer, checkTemplate(document));
      const { stored, created } = await saveTemplate(sql, callerOf(res).id, document, { name, actor: actorOf(res) });
      if (created) state(res).logger.info('template saved', { template: name, version: stored.version });
      res.status(created ? 201 : 200).json(templateView(stored));
    },

    async preview(req, res) {
      const name = pathParam(req, 'name');
      const body = checkBody<PreviewBody & { version?: number }>(templatePreviewSchema, req.body ?? {});
      const found = requireVersion('template', await find(callerOf(res).id, name, body.version), name, body.version);
      res.json(previewView(name, found.version, body, await previewTemplate(renderer, checkTemplate(found.template), body)));
    },

    async rollback(req, res) {
      const name = pathParam(req, 'name');
      const { to_version: toVersion } = checkBody<{ to_version: number }>(rollbackSchema, req.body);
      const tenantId = callerOf(res).id;
      const old = requireVersion('template', await find(tenantId, name, toVersion), name, toVersion);
      // As a save is: the old document rendered once more under today's limits.
      await checkRenders(renderer, checkTemplate(old.template));
      const stored = await rollbackTemplate(sql, tenantId, name, toVersion, { actor: actorOf(res) });
      state(res).logger.info('template rolled back', { template: name, version: stored.version, rolled_back_to: toVersion });
      res.status(201).json(templateView(stored));
    },
  };
}

/**
 * /v1/admin/templates: a tenant's message templates, stored versioned (migration 013),
 * behind the admin-scope check of adminRoutes.
 */
export function templateRoutes(sql: Sql, renderer: TemplateRenderer, parseJson: RequestHandler[]): Router {
  const handlers = templateHandlers(sql, renderer);
  const router = express.Router();
  router.get('/', handlers.list);
  // Before /:name, so neither word is ever taken for a name.
  router.post('/validate', ...parseJson, handlers.validate);
  router.post('/preview', ...parseJson, handlers.previewDocument);
  router.get('/:name', handlers.show);
  router.get('/:name/versions', handlers.versions);
  router.get('/:name/diff', handlers.diff);
  router.put('/:name', ...parseJson, handlers.save);
  router.post('/:name/preview', ...parseJson, handlers.preview);
  router.post('/:name/rollback', ...parseJson, handlers.rollback);
  return router;
}

function templateView(stored: StoredTemplate): Record<string, unknown> {
  return {
    name: stored.name,
    version: stored.version,
    created_by: stored.createdBy,
    created_at: stored.createdAt.toISOString(),
    definition: stored.template,
  };
}

function previewView(name: string, version: number | undefined, body: PreviewBody, renders: readonly PreviewRender[]): Record<string, unknown> {
  return {
    template: name,
    ...(version === undefined ? {} : { version }),
    ...(body.locale === undefined ? {} : { locale: body.locale }),
    renders: renders.map((render) => ({ channel: render.channel, locale: render.locale, ...render.content, ...(render.sms === undefined ? {} : { sms: render.sms }) })),
  };
}

/** Runs `check`; the paths of a ValidationError it throws are put under `prefix`. */
function withPath<T>(prefix: string, check: () => T): T {
  try {
    return check();
  } catch (error) {
    if (!(error instanceof ValidationError)) throw error;
    throw new ValidationError(error.problems.map((p) => ({ path: `${prefix}${p.path}`, message: p.message })));
  }
}
