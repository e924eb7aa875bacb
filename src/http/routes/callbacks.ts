// Callback sources (app) and the signed callback endpoint (the source's secret is its credential).
import { Type } from '@sinclair/typebox';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Services } from '../../services.js';
import type { TypedApp } from '../server.js';
import { asApp, bearer, described, errors, Id } from '../schemas.js';

const Secret = Type.String({ minLength: 1, maxLength: 200 });

const SourceView = Type.Object(
  {
    id: Type.String(),
    format: Type.String(),
    signed: Type.Boolean(),
    secrets: Type.Array(Type.Object({ hint: Type.String() })),
    callbackPath: Type.String(),
    createdAt: Type.String(),
    updatedAt: Type.String(),
  },
  { title: 'CallbackSource' },
);

const CallbackAnswer = Type.Object(
  {
    status: Type.String(),
    reason: Type.Optional(Type.String()),
    detail: Type.Optional(Type.String()),
    messageId: Type.Optional(Type.String()),
    conversationId: Type.Optional(Type.String()),
    seq: Type.Optional(Type.Integer()),
    conflict: Type.Optional(Type.Boolean()),
  },
  { title: 'CallbackAnswer' },
);

const Rejection = Type.Object(
  {
    id: Type.String(),
    reason: Type.String(),
    message: Type.String(),
    msgId: Type.Union([Type.String(), Type.Null()]),
    messageId: Type.Union([Type.String(), Type.Null()]),
    payload: Type.String(),
    truncated: Type.Boolean(),
    receivedAt: Type.String(),
  },
  { title: 'Rejection' },
);

export async function registerCallbackRoutes(app: TypedApp, s: Services): Promise<void> {
  const withPath = (appId: string, view: Omit<typeof SourceView.static, 'callbackPath'>) => ({
    ...view,
    callbackPath: `/v1/apps/${appId}/callbacks/${view.id}`,
  });

  app.put(
    '/v1/callback-sources/:sourceId',
    {
      schema: {
        summary: 'Create or replace a callback source; `secret` is one whsec_ secret or a list (rotation)',
        security: bearer,
        params: Type.Object({ sourceId: Id }),
        body: Type.Object(
          {
            format: Type.Union([Type.Literal('generic'), Type.Literal('gewechat')]),
            secret: Type.Optional(Type.Union([Secret, Type.Array(Secret, { maxItems: 10 }), Type.Null()])),
          },
          { additionalProperties: false },
        ),
        response: {
          200: described(SourceView, 'Replaced'),
          201: SourceView,
          ...errors(asApp, 'invalid_request', 'invalid_secret'),
        },
      },
    },
    async (request, reply) => {
      const { appId } = await s.auth.app(request);
      const { source, created } = await s.callbackSources.put(appId, request.params.sourceId, request.body);
      return reply.status(created ? 201 : 200).send(withPath(appId, source));
    },
  );

  app.get(
    '/v1/callback-sources/:sourceId',
    {
      schema: {
        summary: 'A callback source (secrets shown as hints only)',
        security: bearer,
        params: Type.Object({ sourceId: Id }),
        response: { 200: SourceView, ...errors(asApp, 'invalid_request', 'callback_source_not_found') },
      },
    },
    async (request) => {
      const { appId } = await s.auth.app(request);
      return withPath(appId, await s.callbackSources.get(appId, request.params.sourceId));
    },
  );

  app.get(
    '/v1/callback-sources/:sourceId/rejections',
    {
      schema: {
        summary: 'Callbacks refused (malformed, refused by ingest) or conflicting, newest first',
        security: bearer,
        params: Type.Object({ sourceId: Id }),
        querystring: Type.Object(
          {
            limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 50 })),
            before: Type.Optional(Type.String({ maxLength: 64 })),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({ items: Type.Array(Rejection), hasMore: Type.Boolean() }),
          ...errors(asApp, 'invalid_request', 'callback_source_not_found'),
        },
      },
    },
    async (request) => {
      const { appId } = await s.auth.app(request);
      await s.callbackSources.get(appId, request.params.sourceId);
      return s.rejections.list(appId, request.params.sourceId, {
        limit: request.query.limit ?? 50,
        before: request.query.before,
      });
    },
  );

  // A source adds members only to conversations it made or that are opened to it (callbacks/participants.ts).
  const SourceConversation = Type.Object({
    sourceId: Type.String(),
    conversationId: Type.String(),
    open: Type.Boolean(),
  });
  const sourceConversation = {
    security: bearer,
    params: Type.Object({ sourceId: Id, conversationId: Id }),
  };
  app.put(
    '/v1/callback-sources/:sourceId/conversations/:conversationId',
    {
      schema: {
        summary:
          "Open a conversation to the source: its callbacks may add members there (a member's return too)",
        ...sourceConversation,
        response: {
          200: SourceConversation,
          ...errors(asApp, 'invalid_request', 'callback_source_not_found', 'conversation_not_found'),
        },
      },
    },
    async (request) => {
      const { appId } = await s.auth.app(request);
      const { sourceId, conversationId } = request.params;
      await s.callbackSources.openConversation(appId, sourceId, conversationId);
      return { sourceId, conversationId, open: true };
    },
  );
  app.delete(
    '/v1/callback-sources/:sourceId/conversations/:conversationId',
    {
      schema: {
        summary: 'Close a conversation to the source: its callbacks may send there as members, add no one',
        ...sourceConversation,
        response: {
          200: SourceConversation,
          ...errors(asApp, 'invalid_request', 'callback_source_not_found'),
        },
      },
    },
    async (request) => {
      const { appId } = await s.auth.app(request);
      const { sourceId, conversationId } = request.params;
      await s.callbackSources.closeConversation(appId, sourceId, conversationId);
      return { sourceId, conversationId, open: false };
    },
  );

  // The signature covers the exact bytes sent, so this route sees the raw body: its own parser, in its own
  // encapsulated context, for every content type.
  await app.register(async (child) => {
    const raw = child.withTypeProvider<TypeBoxTypeProvider>();
    raw.removeAllContentTypeParsers();
    raw.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));
    raw.post(
      '/v1/apps/:appId/callbacks/:sourceId',
      {
        schema: {
          summary:
            'Receive a callback: Standard Webhooks signed when the source has a secret; deduplicated by msgId',
          // Signed by the source's secret (no bearer token); unsigned only for a source without one.
          security: [{ standardWebhooks: [] }, {}],
          params: Type.Object({ appId: Id, sourceId: Id }),
          response: {
            200: CallbackAnswer,
            ...errors(
              'invalid_request',
              'invalid_payload',
              'invalid_signature',
              'timestamp_out_of_tolerance',
              'callback_source_not_found',
              'conversation_not_found',
              'message_too_large',
            ),
          },
        },
      },
      async (request) => {
        const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
        return s.callbacks.receive(request.params.appId, request.params.sourceId, request.headers, body);
      },
    );
  });
}
