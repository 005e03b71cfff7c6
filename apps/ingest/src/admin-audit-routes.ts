import express, { type Router } from 'express';
import { ValidationError, type FieldProblem } from '@commstrat/core';
import { listAudit } from '@commstrat/config';
import type { Sql } from 'postgres';
import { positiveQuery } from './admin-schemas.ts';
import { callerOf } from './route-support.ts';

/**
 * /v1/admin/audit: the caller's tenant's audit rows, newest first, behind the
 * admin-scope check. Pass `next_before_id` as `before_id` for the next page.
 */
export function auditRoutes(sql: Sql): Router {
  const router = express.Router();
  router.get('/', async (req, res) => {
    const problems: FieldProblem[] = [];
    const limit = positiveQuery(req.query['limit'], '/limit', problems, 1000) ?? 100;
    const beforeId = positiveQuery(req.query['before_id'], '/before_id', problems, Number.MAX_SAFE_INTEGER);
    if (problems.length > 0) throw new ValidationError(problems);
    const page = await listAudit(sql, callerOf(res).id, beforeId === undefined ? { limit } : { limit, beforeId });
    res.json({
      entries: page.records.map((record) => ({
        id: record.id,
        actor: record.actor,
        action: record.action,
        details: record.details,
        at: record.at.toISOString(),
      })),
      next_before_id: page.nextBeforeId,
    });
  });
  return router;
}
