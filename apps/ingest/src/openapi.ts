import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import express, { type Router } from 'express';
import { ERROR_CODES, batchEnvelopeSchema, messageRequestSchema } from '@commstrat/core';

const require = createRequire(import.meta.url);

const errorBody = {
  type: 'object',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message'],
      properties: {
        code: { type: 'string', enum: Object.keys(ERROR_CODES) },
        message: { type: 'string' },
        problems: {
          type: 'array',
          items: {
            type: 'object',
            properties: { path: { type: 'string', description: 'JSON pointer' }, message: { type: 'string' } },
          },
        },
      },
    },
    request_id: { type: 'string' },
  },
} as const;

const errors = (...statuses: number[]) =>
  Object.fromEntries(
    statuses.map((status) => [
      String(status),
      {
        description: Object.entries(ERROR_CODES)
          .filter(([, entry]) => entry.httpStatus === status)
          .map(([code]) => code)
          .join(', '),
        content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
      },
    ]),
  );

const json = (schema: object) => ({ content: { 'application/json': { schema } } });
const idParam = (name: string) => ({ name, in: 'path', required: true, schema: { type: 'string' } });

/**
 * The OpenAPI 3.1 document, built from the same JSON Schemas the API validates with,
 * so the document cannot drift from the validation.
 */
export function openApiDocument(): Record<string, unknown> {
  const { $id: _id, ...messageRequest } = messageRequestSchema;
  const { $id: _batchId, ...batchEnvelope } = batchEnvelopeSchema;
  return {
    openapi: '3.1.0',
    info: {
      title: 'commstrat ingest API',
      version: '0.1.0',
      description: 'Send notifications, follow their status, cancel them. Authenticate with `Authorization: Bearer <API key>`.',
    },
    components: {
      securitySchemes: { apiKey: { type: 'http', scheme: 'bearer' } },
      schemas: {
        MessageRequest: messageRequest,
        BatchRequest: {
          ...batchEnvelope,
          properties: {
            ...batchEnvelope.properties,
            messages: { ...batchEnvelope.properties.messages, items: { $ref: '#/components/schemas/MessageRequest' } },
          },
        },
        Error: errorBody,
      },
    },
    security: [{ apiKey: [] }],
    paths: {
      '/v1/messages': {
        post: {
          summary: 'Send one message',
          requestBody: { required: true, ...json({ $ref: '#/components/schemas/MessageRequest' }) },
          responses: {
            '202': { description: 'journaled and queued', ...json({ type: 'object', properties: { id: { type: 'string' }, status: { type: 'string' } } }) },
            ...errors(400, 401, 413, 415, 422, 429, 503),
          },
        },
        get: {
          summary: 'List messages, newest first',
          parameters: ['status', 'tag', 'from', 'to', 'batch_id', 'after', 'limit'].map((name) => ({ name, in: 'query', schema: { type: 'string' } })),
          responses: { '200': { description: 'one page; pass next_after as after for the next' }, ...errors(401, 422) },
        },
      },
      '/v1/messages/batch': {
        post: {
          summary: 'Send a batch of messages',
          requestBody: { required: true, ...json({ $ref: '#/components/schemas/BatchRequest' }) },
          responses: {
            '202': { description: 'every item accepted' },
            '207': { description: 'some items accepted; `rejected` lists the others by index, code and path' },
            ...errors(400, 401, 413, 415, 422, 429, 503),
          },
        },
      },
      '/v1/messages/{id}': {
        get: { summary: 'A message with its status timeline', parameters: [idParam('id')], responses: { '200': { description: 'the message' }, ...errors(401, 404) } },
        delete: { summary: 'Cancel a message not yet sent', parameters: [idParam('id')], responses: { '200': { description: 'cancelled' }, ...errors(401, 404, 409) } },
      },
      '/v1/batches/{id}': {
        get: { summary: 'A batch with its messages counted by status', parameters: [idParam('id')], responses: { '200': { description: 'the batch' }, ...errors(401, 404) } },
      },
    },
  };
}

const DOCS_PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>commstrat API</title>
<link rel="stylesheet" href="/docs/assets/swagger-ui.css"></head>
<body><div id="ui"></div>
<script src="/docs/assets/swagger-ui-bundle.js"></script>
<script>SwaggerUIBundle({ url: '/openapi.json', dom_id: '#ui' });</script>
</body></html>`;

/** `/openapi.json` and a human-readable page at `/docs`, served without authentication. */
export function openApiRouter(): Router {
  const router = express.Router();
  const document = openApiDocument();
  router.get('/openapi.json', (_req, res) => {
    res.json(document);
  });
  router.get('/docs', (_req, res) => {
    res.type('html').send(DOCS_PAGE);
  });
  router.use('/docs/assets', express.static(dirname(require.resolve('swagger-ui-dist/package.json'))));
  return router;
}
