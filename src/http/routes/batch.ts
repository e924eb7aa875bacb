// Batch send: `POST /v1/messages/batch`, one result per item in request order plus a summary.
import { Type } from '@sinclair/typebox';
import type { BatchInputItem, BatchItem as BatchItemT } from '../../batch/batch.js';
import type { Services } from '../../services.js';
import { compileBodyCheck } from '../request-validator.js';
import type { TypedApp } from '../server.js';
import { asApp, BatchItem, bearer, errors } from '../schemas.js';

const BatchItemResult = Type.Object(
  {
    index: Type.Integer(),
    idempotencyKey: Type.Union([Type.String(), Type.Null()], {
      description: 'null when the item had no usable key (it failed the item schema)',
    }),
    status: Type.Union([Type.Literal('created'), Type.Literal('duplicate'), Type.Literal('failed')]),
    isIdempotent: Type.Boolean(),
    messageId: Type.Optional(Type.String()),
    conversationId: Type.Optional(Type.String()),
    seq: Type.Optional(Type.Integer()),
    processedAt: Type.String(),
    error: Type.Optional(
      Type.Object({ code: Type.String(), message: Type.String(), retryable: Type.Boolean() }),
    ),
  },
  { title: 'BatchItemResult' },
);

const BatchMode = Type.Union([Type.Literal('partial'), Type.Literal('atomic')]);

/**
 * What makes a request a batch at all; anything else is a 400. Each item is checked on its own against
 * BatchItem, so in a partial batch an item of the wrong shape fails alone (`invalid_item`, with its index).
 */
const BatchEnvelope = Type.Object(
  { mode: Type.Optional(BatchMode), items: Type.Array(Type.Unknown(), { minItems: 1 }) },
  { additionalProperties: false },
);

export function registerBatchRoutes(app: TypedApp, s: Services): void {
  const checkItem = compileBodyCheck(BatchItem);
  const envelope = compileBodyCheck(BatchEnvelope);

  app.post(
    '/v1/messages/batch',
    {
      // Too many items is a 413 before any item is validated.
      preValidation: async (request) => {
        const items = (request.body as { items?: unknown } | undefined)?.items;
        if (Array.isArray(items)) s.batch.checkSize(items.length);
      },
      // The documented schema below is the items' full shape; the request itself is validated as an
      // envelope, and the items one by one in the handler.
      validatorCompiler: ({ httpPart }) => (httpPart === 'body' ? envelope.validate : () => true),
      schema: {
        summary: 'Send many messages; each item is created, a duplicate of its first time, or failed',
        security: bearer,
        body: Type.Object(
          {
            mode: Type.Optional(BatchMode),
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
          ...errors(asApp, 'invalid_request', 'batch_too_large'),
        },
      },
    },
    async (request) => {
      const { appId } = await s.auth.app(request);
      const items = (request.body.items as unknown[]).map((item, index): BatchInputItem => {
        const problem = checkItem.problem(item, `items/${index}`);
        if (problem === undefined) return item as BatchItemT;
        const key = (item as { idempotencyKey?: unknown } | null)?.idempotencyKey;
        return { rejected: problem, idempotencyKey: typeof key === 'string' ? key : null };
      });
      return s.batch.send(appId, { mode: request.body.mode, items });
    },
  );
}
