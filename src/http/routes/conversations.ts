// Conversations: create, read, membership, receipts, and the user's own list.
import { Type } from '@sinclair/typebox';
import { OncelyError } from '../../errors.js';
import type { Services } from '../../services.js';
import type { TypedApp } from '../server.js';
import {
  asActor,
  asApp,
  asUser,
  bearer,
  Conversation,
  described,
  errors,
  Event,
  Id,
  Receipt,
} from '../schemas.js';

/** A conversation's retention as the app sets it: seconds, 0 to keep forever, null for the default. */
const RetentionSeconds = Type.Union([Type.Integer({ minimum: 0, maximum: 2 ** 31 - 1 }), Type.Null()], {
  description:
    "Seconds a message is kept before its body is erased; 0: forever; null: the deployment's default",
});

export function registerConversationRoutes(app: TypedApp, s: Services): void {
  app.post(
    '/v1/conversations',
    {
      schema: {
        summary: 'Create a conversation; a direct pair that exists is returned (200)',
        security: bearer,
        body: Type.Object(
          {
            id: Type.Optional(Id),
            kind: Type.Union([Type.Literal('direct'), Type.Literal('group')]),
            title: Type.Optional(Type.Union([Type.String({ maxLength: 200 }), Type.Null()])),
            members: Type.Array(Id, { minItems: 1, maxItems: 10000 }),
            admins: Type.Optional(Type.Array(Id, { maxItems: 10000 })),
            retentionSeconds: Type.Optional(RetentionSeconds),
          },
          { additionalProperties: false },
        ),
        response: {
          200: described(
            Conversation,
            'The direct conversation of these two users already existed: returned, not duplicated',
          ),
          201: Conversation,
          ...errors(asApp, 'invalid_request', 'invalid_members', 'user_not_found', 'conversation_exists'),
        },
      },
    },
    async (request, reply) => {
      const { appId } = await s.auth.app(request);
      const { created, conversation } = await s.conversations.create(appId, request.body);
      return reply.status(created ? 201 : 200).send(conversation);
    },
  );

  app.get(
    '/v1/conversations/:id',
    {
      schema: {
        summary: 'Read a conversation (app or member)',
        security: bearer,
        params: Type.Object({ id: Id }),
        response: {
          200: Conversation,
          ...errors(asActor, 'invalid_request', 'conversation_not_found', 'not_member'),
        },
      },
    },
    async (request) => {
      const actor = await s.auth.actor(request);
      return s.conversations.get(actor, request.params.id);
    },
  );

  app.patch(
    '/v1/conversations/:id',
    {
      schema: {
        summary: "Change a conversation's settings: its message retention (app)",
        security: bearer,
        params: Type.Object({ id: Id }),
        body: Type.Object(
          { retentionSeconds: RetentionSeconds },
          { additionalProperties: false, minProperties: 1 },
        ),
        response: {
          200: Conversation,
          ...errors(asApp, 'invalid_request', 'conversation_not_found'),
        },
      },
    },
    async (request) => {
      const { appId } = await s.auth.app(request);
      return s.conversations.setRetention(appId, request.params.id, request.body.retentionSeconds);
    },
  );

  app.post(
    '/v1/conversations/:id/members',
    {
      schema: {
        summary: 'Add members (each a sequenced member.added event)',
        security: bearer,
        params: Type.Object({ id: Id }),
        body: Type.Object(
          { userIds: Type.Array(Id, { minItems: 1, maxItems: 1000 }) },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({ conversation: Conversation, events: Type.Array(Event) }),
          ...errors(
            asApp,
            'invalid_request',
            'conversation_not_found',
            'user_not_found',
            'conversation_is_direct',
          ),
        },
      },
    },
    async (request) => {
      const { appId } = await s.auth.app(request);
      return s.conversations.addMembers(appId, request.params.id, request.body.userIds, null);
    },
  );

  app.delete(
    '/v1/conversations/:id/members/:userId',
    {
      schema: {
        summary: 'Remove a member (a sequenced member.removed event)',
        security: bearer,
        params: Type.Object({ id: Id, userId: Id }),
        response: {
          200: Type.Object({ conversation: Conversation, event: Type.Optional(Event) }),
          ...errors(
            asApp,
            'invalid_request',
            'conversation_not_found',
            'member_not_found',
            'conversation_is_direct',
          ),
        },
      },
    },
    async (request) => {
      const { appId } = await s.auth.app(request);
      return s.conversations.removeMember(appId, request.params.id, request.params.userId, null);
    },
  );

  app.get(
    '/v1/conversations/:id/presence',
    {
      schema: {
        summary: 'Whether each current member has a live session (WebSocket or SSE) on any instance',
        security: bearer,
        params: Type.Object({ id: Id }),
        response: {
          200: Type.Object({
            items: Type.Array(
              Type.Object({
                userId: Type.String(),
                online: Type.Boolean(),
                lastSeenAt: Type.Union([Type.String(), Type.Null()], {
                  description: 'Now while online; when the last session ended; null if never seen',
                }),
              }),
            ),
          }),
          ...errors(asActor, 'conversation_not_found', 'not_member', 'presence_disabled'),
        },
      },
    },
    async (request) => {
      const actor = await s.auth.actor(request);
      if (!s.config.presence)
        throw OncelyError.of('presence_disabled', 'presence is off (ONCELY_PRESENCE=0)');
      const { members } = await s.conversations.get(actor, request.params.id);
      return { items: await s.presence.states(actor.appId, members) };
    },
  );

  app.post(
    '/v1/conversations/:id/receipts',
    {
      schema: {
        summary: "Move the caller's delivered/read markers forward (never back)",
        security: bearer,
        params: Type.Object({ id: Id }),
        body: Type.Object(
          {
            deliveredSeq: Type.Optional(Type.Integer({ minimum: 0 })),
            readSeq: Type.Optional(Type.Integer({ minimum: 0 })),
          },
          { additionalProperties: false, minProperties: 1 },
        ),
        response: {
          200: Receipt,
          ...errors(asUser, 'invalid_request', 'seq_out_of_range', 'conversation_not_found', 'not_member'),
        },
      },
    },
    async (request) => {
      const user = await s.auth.user(request);
      return s.receipts.update(user, request.params.id, request.body);
    },
  );

  app.get(
    '/v1/conversations/:id/receipts',
    {
      schema: {
        summary: "Every current member's delivered/read markers (app or member)",
        security: bearer,
        params: Type.Object({ id: Id }),
        response: {
          200: Type.Object({ items: Type.Array(Receipt) }),
          ...errors(asActor, 'invalid_request', 'conversation_not_found', 'not_member'),
        },
      },
    },
    async (request) => {
      const actor = await s.auth.actor(request);
      return { items: await s.receipts.list(actor, request.params.id) };
    },
  );

  app.get(
    '/v1/me/conversations',
    {
      schema: {
        summary: "The caller's conversations with unread counts",
        security: bearer,
        response: {
          200: Type.Object({
            items: Type.Array(
              Type.Object({
                id: Type.String(),
                kind: Type.String(),
                title: Type.Union([Type.String(), Type.Null()]),
                members: Type.Array(Type.String()),
                lastSeq: Type.Integer(),
                deliveredSeq: Type.Integer(),
                readSeq: Type.Integer(),
                unread: Type.Integer(),
                lastMessage: Type.Union([Event, Type.Null()]),
                retentionSeconds: Type.Integer(),
              }),
            ),
          }),
          ...errors(asUser),
        },
      },
    },
    async (request) => {
      const user = await s.auth.user(request);
      return { items: await s.conversations.listForUser(user.appId, user.userId) };
    },
  );
}
