// Messages: send (idempotent), history, one message with status, recall.
import { Type } from '@sinclair/typebox';
import type { Services } from '../../services.js';
import type { TypedApp } from '../server.js';
import {
  asActor,
  bearer,
  ClientMsgId,
  described,
  errors,
  Event,
  Id,
  MessageBody,
  SendResult,
} from '../schemas.js';

export function registerMessageRoutes(app: TypedApp, s: Services): void {
  app.post(
    '/v1/conversations/:id/messages',
    {
      schema: {
        summary: 'Send a message; a repeated Idempotency-Key replays the first answer',
        security: bearer,
        params: Type.Object({ id: Id }),
        headers: Type.Object({ 'idempotency-key': Type.Optional(Type.String()) }),
        body: Type.Object(
          { from: Type.Optional(Id), body: MessageBody, clientMsgId: Type.Optional(ClientMsgId) },
          { additionalProperties: false },
        ),
        response: {
          200: described(
            SendResult,
            'A repeat of the Idempotency-Key (or clientMsgId): the first answer, replayed',
            {
              'Idempotent-Replayed': Type.Literal('true', { description: 'Present on a replayed answer' }),
            },
          ),
          201: described(SendResult, 'Created: the message is stored with its seq'),
          ...errors(
            asActor,
            'invalid_request',
            'invalid_idempotency_key',
            'missing_from',
            'from_mismatch',
            'not_member',
            'conversation_not_found',
            'message_too_large',
            'idempotency_key_reused',
            'idempotency_key_busy',
          ),
        },
      },
    },
    async (request, reply) => {
      const { result, duplicate } = await s.ingest.sendAsActor({
        actor: await s.auth.actor(request),
        conversationId: request.params.id,
        from: request.body.from,
        body: request.body.body,
        clientMsgId: request.body.clientMsgId,
        idempotencyKey: request.headers['idempotency-key'],
        source: 'rest',
      });
      if (duplicate) return reply.status(200).header('idempotent-replayed', 'true').send(result);
      return reply.status(201).send(result);
    },
  );

  app.get(
    '/v1/conversations/:id/messages',
    {
      schema: {
        summary: 'A page of events by seq',
        security: bearer,
        params: Type.Object({ id: Id }),
        querystring: Type.Object(
          {
            after: Type.Optional(Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER })),
            before: Type.Optional(Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER })),
            limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 50 })),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({ items: Type.Array(Event), hasMore: Type.Boolean() }),
          ...errors(asActor, 'invalid_request', 'conversation_not_found', 'not_member'),
        },
      },
    },
    async (request) => {
      const actor = await s.auth.actor(request);
      const { after, before, limit } = request.query;
      return s.history.page(actor, request.params.id, { after, before, limit: limit ?? 50 });
    },
  );

  app.get(
    '/v1/messages/:messageId',
    {
      schema: {
        summary: 'A message with its derived status and delivered/read counts',
        security: bearer,
        params: Type.Object({ messageId: Id }),
        response: {
          200: Type.Intersect([
            Event,
            Type.Object({
              status: Type.String(),
              recipients: Type.Integer(),
              deliveredCount: Type.Integer(),
              readCount: Type.Integer(),
            }),
          ]),
          ...errors(asActor, 'invalid_request', 'message_not_found', 'not_member'),
        },
      },
    },
    async (request) => {
      const actor = await s.auth.actor(request);
      return s.history.message(actor, request.params.messageId);
    },
  );

  app.post(
    '/v1/messages/:messageId/recall',
    {
      schema: {
        summary: 'Recall a message: sender within the window, conversation admin, or app',
        security: bearer,
        params: Type.Object({ messageId: Id }),
        response: {
          200: Type.Object({
            messageId: Type.String(),
            conversationId: Type.String(),
            recalledAt: Type.String(),
            event: Event,
          }),
          ...errors(
            asActor,
            'invalid_request',
            'message_not_found',
            'not_member',
            'not_sender',
            'recall_window_expired',
          ),
        },
      },
    },
    async (request) => {
      const actor = await s.auth.actor(request);
      return s.recall.recall(actor, request.params.messageId);
    },
  );
}
