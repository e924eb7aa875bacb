// Apps (admin) and their settings (admin or the app), users and user tokens (app).
import { Type } from '@sinclair/typebox';
import type { FastifyRequest } from 'fastify';
import type { Services } from '../../services.js';
import { OncelyError } from '../../errors.js';
import type { TypedApp } from '../server.js';
import { asAdmin, asAdminOrApp, asApp, bearer, described, errors, Id } from '../schemas.js';

const User = Type.Object(
  {
    id: Type.String(),
    displayName: Type.Union([Type.String(), Type.Null()]),
    createdAt: Type.String(),
    updatedAt: Type.String(),
  },
  { title: 'User' },
);

export function registerAppRoutes(app: TypedApp, s: Services): void {
  const Settings = Type.Object(
    {
      usersCreateConversations: Type.Boolean({
        description:
          'whether users may start conversations themselves (POST /v1/me/conversations); default true',
      }),
    },
    { title: 'AppSettings' },
  );
  /** The admin, or the app itself (its API key). */
  const adminOrOwnApp = async (request: FastifyRequest, appId: string) => {
    const p = await s.auth.principal(request);
    if (p.kind === 'user' || (p.kind === 'app' && p.appId !== appId)) {
      throw OncelyError.of('admin_or_own_app_required', "the admin token or this app's API key is needed");
    }
  };

  app.post(
    '/v1/apps',
    {
      schema: {
        summary: 'Create an app; its API key is shown once',
        security: bearer,
        body: Type.Object(
          { name: Type.String({ minLength: 1, maxLength: 200 }) },
          { additionalProperties: false },
        ),
        response: {
          201: Type.Object({
            id: Type.String(),
            name: Type.String(),
            apiKey: Type.String(),
            createdAt: Type.String(),
          }),
          ...errors(asAdmin, 'invalid_request'),
        },
      },
    },
    async (request, reply) => {
      await s.auth.admin(request);
      const created = await s.apps.createApp(request.body.name);
      return reply.status(201).send(created);
    },
  );

  app.post(
    '/v1/apps/:appId/token-secret/rotate',
    {
      schema: {
        summary: "Rotate the secret that signs the app's user tokens: every token issued before is refused",
        security: bearer,
        params: Type.Object({ appId: Id }),
        response: {
          200: Type.Object({ appId: Type.String(), rotatedAt: Type.String() }),
          ...errors(asAdminOrApp, 'invalid_request', 'app_not_found'),
        },
      },
    },
    async (request) => {
      const { appId } = request.params;
      await adminOrOwnApp(request, appId);
      await s.userTokens.rotateSecret(appId);
      return { appId, rotatedAt: new Date(s.clock.now()).toISOString() };
    },
  );

  app.get(
    '/v1/apps/:appId/settings',
    {
      schema: {
        summary: "The app's settings (admin or that app)",
        security: bearer,
        params: Type.Object({ appId: Id }),
        response: { 200: Settings, ...errors(asAdminOrApp, 'invalid_request', 'app_not_found') },
      },
    },
    async (request) => {
      await adminOrOwnApp(request, request.params.appId);
      return s.apps.settings(request.params.appId);
    },
  );

  app.patch(
    '/v1/apps/:appId/settings',
    {
      schema: {
        summary: "Change the app's settings (admin or that app); what is left out stays",
        security: bearer,
        params: Type.Object({ appId: Id }),
        body: Type.Object(
          { usersCreateConversations: Type.Optional(Type.Boolean()) },
          { additionalProperties: false },
        ),
        response: { 200: Settings, ...errors(asAdminOrApp, 'invalid_request', 'app_not_found') },
      },
    },
    async (request) => {
      await adminOrOwnApp(request, request.params.appId);
      return s.apps.updateSettings(request.params.appId, request.body);
    },
  );

  app.put(
    '/v1/users/:userId',
    {
      schema: {
        summary: 'Create or update a user',
        security: bearer,
        params: Type.Object({ userId: Id }),
        body: Type.Object(
          { displayName: Type.Optional(Type.Union([Type.String({ maxLength: 200 }), Type.Null()])) },
          { additionalProperties: false },
        ),
        response: { 200: described(User, 'Updated'), 201: User, ...errors(asApp, 'invalid_request') },
      },
    },
    async (request, reply) => {
      const { appId } = await s.auth.app(request);
      const { user, created } = await s.apps.upsertUser(
        appId,
        request.params.userId,
        request.body.displayName,
      );
      return reply.status(created ? 201 : 200).send(user);
    },
  );

  app.get(
    '/v1/users/:userId',
    {
      schema: {
        summary: 'Read a user',
        security: bearer,
        params: Type.Object({ userId: Id }),
        response: { 200: User, ...errors(asApp, 'invalid_request', 'user_not_found') },
      },
    },
    async (request) => {
      const { appId } = await s.auth.app(request);
      return s.apps.getUser(appId, request.params.userId);
    },
  );

  app.post(
    '/v1/users/:userId/tokens',
    {
      schema: {
        summary: 'Issue a short-lived user token',
        security: bearer,
        params: Type.Object({ userId: Id }),
        body: Type.Object(
          { ttlSeconds: Type.Optional(Type.Integer({ minimum: 1 })) },
          { additionalProperties: false },
        ),
        response: {
          201: Type.Object({ token: Type.String(), expiresAt: Type.String() }),
          ...errors(asApp, 'invalid_request', 'ttl_too_long', 'user_not_found'),
        },
      },
    },
    async (request, reply) => {
      const { appId } = await s.auth.app(request);
      const ttl = request.body.ttlSeconds ?? s.config.userTokenDefaultTtlSeconds;
      if (ttl > s.config.userTokenMaxTtlSeconds) {
        throw OncelyError.of('ttl_too_long', `ttlSeconds may be at most ${s.config.userTokenMaxTtlSeconds}`);
      }
      await s.apps.getUser(appId, request.params.userId);
      return reply.status(201).send(await s.userTokens.issue(appId, request.params.userId, ttl));
    },
  );
}
