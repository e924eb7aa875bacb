// Messages: send (idempotent), history, one message with status, recall.
import { Type } from '@sinclair/typebox';
import { badRequest, forbidden, unprocessable } from '../../errors.js';
import { fingerprint } from '../../idempotency/fingerprint.js';
import { appScope, userScope } from '../../idempotency/scope.js';
import type { Services } from '../../services.js';
import type { TypedApp } from '../server.js';
import { ClientMsgId, Event, Id, MessageBody, SendResult, bearer, described, errors } from '../schemas.js';

const maxKeyLength = 255;

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
          ...errors(400, 401, 403, 404, 413, 422),
        },
      },
    },
    async (request, reply) => {
      const actor = await s.auth.actor(request);
      const { from, body, clientMsgId } = request.body;
      let senderId: string;
      if (actor.kind === 'app') {
        if (!from) throw badRequest('missing_from', 'an app sends on behalf of a user: set "from"');
        senderId = from;
      } else {
        if (from !== undefined && from !== actor.userId)
          throw forbidden('from_mismatch', 'a user sends as itself');
        senderId = actor.userId;
      }
      const headerKey = request.headers['idempotency-key'];
      if (headerKey !== undefined && (headerKey.length === 0 || headerKey.length > maxKeyLength)) {
        throw badRequest(
          'invalid_idempotency_key',
          `Idempotency-Key must be 1 to ${maxKeyLength} characters`,
        );
      }
      // An app's keys are unique among the app's; a user's keys and clientMsgIds among that user's.
      const scope = headerKey !== undefined && actor.kind === 'app' ? appScope : userScope(senderId);
      const key = headerKey ?? clientMsgId;
      const conversationId = request.params.id;
      const outcome = await s.ingest.send({
        appId: actor.appId,
        conversationId,
        senderId,
        body,
        clientMsgId,
        idempotency:
          key === undefined
            ? undefined
            : {
                appId: actor.appId,
                scope,
                key,
                fingerprint: fingerprint({ conversationId, senderId, body, clientMsgId }),
              },
        source: 'rest',
      });
      if (outcome.status === 'reused') {
        throw unprocessable(
          'idempotency_key_reused',
          'this Idempotency-Key was used with a different request',
        );
      }
      if (outcome.status === 'duplicate') {
        return reply.status(200).header('idempotent-replayed', 'true').send(outcome.result);
      }
      return reply.status(201).send(outcome.result);
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
          ...errors(400, 401, 403, 404),
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
          ...errors(401, 403, 404),
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
          ...errors(401, 403, 404, 409),
        },
      },
    },
    async (request) => {
      const actor = await s.auth.actor(request);
      return s.recall.recall(actor, request.params.messageId);
    },
  );
}
