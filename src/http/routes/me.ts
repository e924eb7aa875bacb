// The signed-in user's own view of the server: who it is, the settings a client needs to behave well (the
// recall window, so a page offers "recall" only while the server would accept it; whether the user may start
// conversations), the people it shares conversations with, and starting a conversation.
import { Type } from '@sinclair/typebox';
import type { Services } from '../../services.js';
import type { TypedApp } from '../server.js';
import { asUser, bearer, Conversation, described, errors, Id } from '../schemas.js';

export function registerMeRoutes(app: TypedApp, s: Services): void {
  app.get(
    '/v1/me',
    {
      schema: {
        summary: 'The caller (a user token) and the client-facing settings',
        security: bearer,
        response: {
          200: Type.Object({
            userId: Type.String(),
            appId: Type.String(),
            displayName: Type.Union([Type.String(), Type.Null()]),
            recallWindowSeconds: Type.Integer({ description: '0: no limit' }),
            canStartConversations: Type.Boolean({
              description: 'whether this app lets its users start conversations (POST /v1/me/conversations)',
            }),
          }),
          ...errors(asUser, 'user_not_found'),
        },
      },
    },
    async (request) => {
      const user = await s.auth.user(request);
      const [profile, settings] = await Promise.all([
        s.apps.getUser(user.appId, user.userId),
        s.apps.settings(user.appId),
      ]);
      return {
        userId: user.userId,
        appId: user.appId,
        displayName: profile.displayName,
        recallWindowSeconds: s.config.recallWindowSeconds,
        canStartConversations: settings.usersCreateConversations,
      };
    },
  );

  app.get(
    '/v1/me/people',
    {
      schema: {
        summary: 'The caller and everyone sharing a conversation with them, with display names',
        security: bearer,
        response: {
          200: Type.Object({
            items: Type.Array(
              Type.Object(
                { id: Type.String(), displayName: Type.Union([Type.String(), Type.Null()]) },
                { title: 'Person' },
              ),
            ),
          }),
          ...errors(asUser),
        },
      },
    },
    async (request) => {
      const user = await s.auth.user(request);
      return { items: await s.userConversations.people(user) };
    },
  );

  app.post(
    '/v1/me/conversations',
    {
      schema: {
        summary:
          'Start a conversation that includes the caller (unless the app turned this off); a direct pair that exists is returned (200)',
        security: bearer,
        body: Type.Object(
          {
            kind: Type.Union([Type.Literal('direct'), Type.Literal('group')]),
            title: Type.Optional(Type.Union([Type.String({ maxLength: 200 }), Type.Null()])),
            members: Type.Array(Id, {
              minItems: 1,
              maxItems: 1000,
              description: 'the others (the caller is always a member); a direct conversation names one',
            }),
          },
          { additionalProperties: false },
        ),
        response: {
          200: described(Conversation, 'The direct conversation of these two users already existed'),
          201: Conversation,
          ...errors(
            asUser,
            'invalid_request',
            'invalid_members',
            'user_conversations_disabled',
            'user_not_found',
          ),
        },
      },
    },
    async (request, reply) => {
      const user = await s.auth.user(request);
      const { created, conversation } = await s.userConversations.start(user, request.body);
      return reply.status(created ? 201 : 200).send(conversation);
    },
  );
}
