// Batch send: `POST /v1/messages/batch`, one result per item in request order plus a summary.
import { Type } from '@sinclair/typebox';
import type { Services } from '../../services.js';
import type { TypedApp } from '../server.js';
import { BatchItem, bearer, errors } from '../schemas.js';

const BatchItemResult = Type.Object({
  index: Type.Integer(),
  idempotencyKey: Type.String(),
  status: Type.Union([Type.Literal('created'), Type.Literal('duplicate'), Type.Literal('failed')]),
  isIdempotent: Type.Boolean(),
  messageId: Type.Optional(Type.String()),
  conversationId: Type.Optional(Type.String()),
  seq: Type.Optional(Type.Integer()),
  processedAt: Type.String(),
  error: Type.Optional(
    Type.Object({ code: Type.String(), message: Type.String(), retryable: Type.Boolean() }),
  ),
});

export function registerBatchRoutes(app: TypedApp, s: Services): void {
  app.post(
    '/v1/messages/batch',
    {
      // Too many items is a 413 before any item is validated.
      preValidation: async (request) => {
        const items = (request.body as { items?: unknown } | undefined)?.items;
        if (Array.isArray(items)) s.batch.checkSize(items.length);
      },
      schema: {
        summary: 'Send many messages; each item is created, a duplicate of its first time, or failed',
        security: bearer,
        body: Type.Object(
          {
            mode: Type.Optional(Type.Union([Type.Literal('partial'), Type.Literal('atomic')])),
            // The size limit is a setting, checked by the batch itself (413 batch_too_large).
            items: Type.Array(BatchItem, { minItems: 1 }),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({
            mode: Type.String(),
            results: Type.Array(BatchItemResult),
            summary: Type.Object({
              total: Type.Integer(),
              created: Type.Integer(),
              duplicate: Type.Integer(),
              failed: Type.Integer(),
            }),
          }),
          ...errors(400, 401, 403, 413),
        },
      },
    },
    async (request) => {
      const { appId } = await s.auth.app(request);
      return s.batch.send(appId, request.body);
    },
  );
}
