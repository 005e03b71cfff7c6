// The routes every versioned document of a tenant has (strategies, templates, provider
// definitions): one version by name, the newest unless `?version=n`, and the diff of two.
import type { RequestHandler } from 'express';
import { NotFoundError, ValidationError, jsonDiff, type FieldProblem } from '@commstrat/core';
import { positiveQuery } from './admin-schemas.ts';
import { callerOf, pathParam } from './route-support.ts';

/** A tenant's stored version of `name`; the newest without `version`; null when there is none. */
export type FindVersion<T> = (tenantId: string, name: string, version?: number) => Promise<T | null>;

/** GET /:name[?version=n]: the version as `view` shows it, or 404 naming it. `what` is `template`, `strategy`, ... */
export function showVersion<T>(what: string, find: FindVersion<T>, view: (stored: T) => unknown): RequestHandler {
  return async (req, res) => {
    const name = pathParam(req, 'name');
    const version = versionQuery(req.query['version']);
    res.json(view(requireVersion(what, await find(callerOf(res).id, name, version), name, version)));
  };
}

/**
 * GET /:name/diff?from=a[&to=b]: the changes from version `a` to `b` (the newest without
 * `to`) of what `documentOf` takes from each; 400 naming `/from`, `/to`, 404 naming the version.
 */
export function diffVersions<T extends { readonly version: number }>(what: string, find: FindVersion<T>, documentOf: (stored: T) => unknown): RequestHandler {
  return async (req, res) => {
    const name = pathParam(req, 'name');
    const problems: FieldProblem[] = [];
    const from = positiveQuery(req.query['from'], '/from', problems);
    const to = positiveQuery(req.query['to'], '/to', problems);
    if (req.query['from'] === undefined) problems.push({ path: '/from', message: 'is required' });
    if (problems.length > 0 || from === undefined) throw new ValidationError(problems);
    const tenantId = callerOf(res).id;
    const [before, after] = await Promise.all([find(tenantId, name, from), find(tenantId, name, to)]);
    const earlier = requireVersion(what, before, name, from);
    const later = requireVersion(what, after, name, to);
    res.json({ name, from: earlier.version, to: later.version, changes: jsonDiff(documentOf(earlier), documentOf(later)) });
  };
}

/** `found`, or the 404 that names the version asked for (`template welcome version 3`). */
export function requireVersion<T>(what: string, found: T | null, name: string, version: number | undefined): T {
  if (found === null) throw new NotFoundError(`${what} ${name}${version === undefined ? '' : ` version ${version}`}`);
  return found;
}

/** `?version=n`: a positive whole number, or undefined (the newest) when it is not given. */
export function versionQuery(value: unknown): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'string' && /^[1-9][0-9]{0,8}$/.test(value)) return Number(value);
  throw new ValidationError([{ path: '/version', message: 'must be a positive whole number' }]);
}
