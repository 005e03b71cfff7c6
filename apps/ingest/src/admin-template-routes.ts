import express, { type Router } from 'express';
import { NotFoundError, ValidationError, jsonDiff, type Channel, type FieldProblem } from '@commstrat/core';
import { findTemplate, listTemplates, namedTemplate, saveTemplate, type StoredTemplate } from '@commstrat/config';
import { checkTemplate, type TemplateRenderer } from '@commstrat/templates';
import type { Sql } from 'postgres';
import { checkBody, inlinePreviewSchema, positiveQuery, templatePreviewSchema } from './admin-schemas.ts';
import { actorOf, callerOf, pathParam } from './route-support.ts';
import { checkRenders, previewTemplate, type PreviewRender } from './template-preview.ts';
import { state } from './v1-routes.ts';

interface PreviewBody {
  readonly variables?: Record<string, unknown>;
  readonly locale?: string;
  readonly channel?: Channel;
}

/**
 * /v1/admin/templates: a tenant's message templates, stored versioned (migration 013),
 * behind the admin-scope check of adminRoutes. A save is checked twice: statically
 * (checkTemplate) and by rendering every variant in the render worker (MJML, the sample
 * variables, the limits); nothing invalid is stored. Every save is audited and reaches
 * every replica's intake by NOTIFY.
 */
export function templateRoutes(sql: Sql, renderer: TemplateRenderer, parseJson: express.RequestHandler[]): Router {
  const router = express.Router();

  router.get('/', async (_req, res) => {
    res.json({ templates: (await listTemplates(sql, callerOf(res).id)).map(templateView) });
  });

  // Before /:name, so neither word is ever taken for a name.
  router.post('/validate', ...parseJson, async (req, res) => {
    const prepared = checkTemplate(req.body);
    await checkRenders(renderer, prepared);
    res.json({ valid: true, template: prepared.template });
  });

  router.post('/preview', ...parseJson, async (req, res) => {
    const body = checkBody<PreviewBody & { template: unknown }>(inlinePreviewSchema, req.body);
    const prepared = withPath('/template', () => checkTemplate(body.template));
    res.json(previewView(prepared.template.name, undefined, body, await previewTemplate(renderer, prepared, body)));
  });

  router.get('/:name', async (req, res) => {
    const name = pathParam(req, 'name');
    const version = versionQuery(req.query['version']);
    const found = await findTemplate(sql, callerOf(res).id, name, version);
    if (found === null) throw new NotFoundError(`template ${name}${version === undefined ? '' : ` version ${version}`}`);
    res.json(templateView(found));
  });

  router.get('/:name/diff', async (req, res) => {
    const name = pathParam(req, 'name');
    const problems: FieldProblem[] = [];
    const from = positiveQuery(req.query['from'], '/from', problems);
    const to = positiveQuery(req.query['to'], '/to', problems);
    if (req.query['from'] === undefined) problems.push({ path: '/from', message: 'is required' });
    if (problems.length > 0 || from === undefined) throw new ValidationError(problems);
    const tenantId = callerOf(res).id;
    const [before, after] = await Promise.all([findTemplate(sql, tenantId, name, from), findTemplate(sql, tenantId, name, to)]);
    if (before === null) throw new NotFoundError(`template ${name} version ${from}`);
    if (after === null) throw new NotFoundError(`template ${name}${to === undefined ? '' : ` version ${to}`}`);
    res.json({ name, from: before.version, to: after.version, changes: jsonDiff(before.template, after.template) });
  });

  router.put('/:name', ...parseJson, async (req, res) => {
    const name = pathParam(req, 'name');
    const document = namedTemplate(req.body, name);
    await checkRenders(renderer, checkTemplate(document));
    const { stored, created } = await saveTemplate(sql, callerOf(res).id, document, { name, actor: actorOf(res) });
    if (created) state(res).logger.info('template saved', { template: name, version: stored.version });
    res.status(created ? 201 : 200).json(templateView(stored));
  });

  router.post('/:name/preview', ...parseJson, async (req, res) => {
    const name = pathParam(req, 'name');
    const body = checkBody<PreviewBody & { version?: number }>(templatePreviewSchema, req.body ?? {});
    const found = await findTemplate(sql, callerOf(res).id, name, body.version);
    if (found === null) throw new NotFoundError(`template ${name}${body.version === undefined ? '' : ` version ${body.version}`}`);
    res.json(previewView(name, found.version, body, await previewTemplate(renderer, checkTemplate(found.template), body)));
  });
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

function versionQuery(value: unknown): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'string' && /^[1-9][0-9]{0,8}$/.test(value)) return Number(value);
  throw new ValidationError([{ path: '/version', message: 'must be a positive whole number' }]);
}
