// Outbound webhooks (app): endpoints, their secrets, their deliveries; retry of a dead letter and replay.
import { Type } from '@sinclair/typebox';
import { OncelyError } from '../../errors.js';
import type { Services } from '../../services.js';
import type { TypedApp } from '../server.js';
import { asApp, bearer, errors, EventType, Id } from '../schemas.js';

const Secret = Type.String({ minLength: 1, maxLength: 200 });

const Endpoint = Type.Object({
  id: Type.String(),
  url: Type.String(),
  events: Type.Union([Type.Array(Type.String()), Type.Null()]),
  enabled: Type.Boolean(),
  ordered: Type.Boolean(),
  disabledReason: Type.Union([Type.String(), Type.Null()]),
  secrets: Type.Array(
    Type.Object({ hint: Type.String(), expiresAt: Type.Union([Type.String(), Type.Null()]) }),
  ),
  createdAt: Type.String(),
  updatedAt: Type.String(),
  secret: Type.Optional(Type.String()),
});

const Attempt = Type.Object({
  n: Type.Integer(),
  at: Type.String(),
  statusCode: Type.Union([Type.Integer(), Type.Null()]),
  durationMs: Type.Integer(),
  error: Type.Union([Type.String(), Type.Null()]),
});

const Delivery = Type.Object({
  id: Type.String(),
  endpointId: Type.String(),
  eventId: Type.String(),
  eventType: Type.Union([Type.String(), Type.Null()]),
  conversationId: Type.String(),
  seq: Type.Integer(),
  state: Type.String(),
  attemptCount: Type.Integer(),
  nextAttemptAt: Type.Union([Type.String(), Type.Null()]),
  lastStatus: Type.Union([Type.Integer(), Type.Null()]),
  lastError: Type.Union([Type.String(), Type.Null()]),
  createdAt: Type.String(),
  finishedAt: Type.Union([Type.String(), Type.Null()]),
  attempts: Type.Array(Attempt),
});

const EndpointParams = Type.Object({ id: Id });

export function registerWebhookRoutes(app: TypedApp, s: Services): void {
  app.put(
    '/v1/webhook-endpoints/:id',
    {
      schema: {
        summary: 'Create (201, with its whsec_ secret shown once) or update (200) a webhook endpoint',
        security: bearer,
        params: EndpointParams,
        body: Type.Object(
          {
            url: Type.String({ minLength: 1, maxLength: 2048 }),
            events: Type.Optional(
              Type.Union([Type.Array(EventType, { minItems: 1, maxItems: 10 }), Type.Null()]),
            ),
            enabled: Type.Optional(Type.Boolean()),
            ordered: Type.Optional(Type.Boolean()),
            secret: Type.Optional(Secret),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Endpoint,
          201: Endpoint,
          ...errors(asApp, 'invalid_request', 'invalid_secret', 'webhook_url_not_allowed'),
        },
      },
    },
    async (request, reply) => {
      const { appId } = await s.auth.app(request);
      const { endpoint, created } = await s.webhooks.endpoints.put(appId, request.params.id, request.body);
      return reply.status(created ? 201 : 200).send(endpoint);
    },
  );

  app.get(
    '/v1/webhook-endpoints',
    {
      schema: {
        summary: "The app's webhook endpoints (secrets as hints only)",
        security: bearer,
        response: { 200: Type.Object({ items: Type.Array(Endpoint) }), ...errors(asApp) },
      },
    },
    async (request) => {
      const { appId } = await s.auth.app(request);
      return { items: await s.webhooks.endpoints.list(appId) };
    },
  );

  app.get(
    '/v1/webhook-endpoints/:id',
    {
      schema: {
        summary: 'A webhook endpoint (secrets as hints only)',
        security: bearer,
        params: EndpointParams,
        response: { 200: Endpoint, ...errors(asApp, 'invalid_request', 'webhook_endpoint_not_found') },
      },
    },
    async (request) => {
      const { appId } = await s.auth.app(request);
      return s.webhooks.endpoints.get(appId, request.params.id);
    },
  );

  app.delete(
    '/v1/webhook-endpoints/:id',
    {
      schema: {
        summary: 'Delete a webhook endpoint with its deliveries',
        security: bearer,
        params: EndpointParams,
        response: { 204: Type.Null(), ...errors(asApp, 'invalid_request', 'webhook_endpoint_not_found') },
      },
    },
    async (request, reply) => {
      const { appId } = await s.auth.app(request);
      await s.webhooks.endpoints.remove(appId, request.params.id);
      return reply.status(204).send(null);
    },
  );

  app.post(
    '/v1/webhook-endpoints/:id/rotate-secret',
    {
      schema: {
        summary: 'A new secret (given or generated, shown once); the previous one also signs for 24 h',
        security: bearer,
        params: EndpointParams,
        body: Type.Object({ secret: Type.Optional(Secret) }, { additionalProperties: false }),
        response: {
          200: Type.Object({ secret: Type.String(), endpoint: Endpoint }),
          ...errors(
            asApp,
            'invalid_request',
            'invalid_secret',
            'webhook_endpoint_not_found',
            'secret_in_use',
          ),
        },
      },
    },
    async (request) => {
      const { appId } = await s.auth.app(request);
      return s.webhooks.endpoints.rotateSecret(appId, request.params.id, request.body.secret);
    },
  );

  app.get(
    '/v1/webhook-endpoints/:id/deliveries',
    {
      schema: {
        summary: "An endpoint's deliveries with their attempts, newest first",
        security: bearer,
        params: EndpointParams,
        querystring: Type.Object(
          {
            state: Type.Optional(
              Type.Union([Type.Literal('pending'), Type.Literal('succeeded'), Type.Literal('failed')]),
            ),
            limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 50 })),
            before: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({ items: Type.Array(Delivery), hasMore: Type.Boolean() }),
          ...errors(asApp, 'invalid_request', 'webhook_endpoint_not_found'),
        },
      },
    },
    async (request) => {
      const { appId } = await s.auth.app(request);
      const { state, limit, before } = request.query;
      return s.webhooks.listDeliveries(appId, request.params.id, { state, limit: limit ?? 50, before });
    },
  );

  app.post(
    '/v1/webhook-endpoints/:id/replay',
    {
      schema: {
        summary: 'Send every event since a time again (same webhook-id: receivers drop what they have)',
        security: bearer,
        params: EndpointParams,
        body: Type.Object(
          { since: Type.Union([Type.String({ minLength: 1, maxLength: 64 }), Type.Integer({ minimum: 0 })]) },
          { additionalProperties: false },
        ),
        response: {
          202: Type.Object({ queued: Type.Integer() }),
          ...errors(
            asApp,
            'invalid_request',
            'invalid_since',
            'webhook_endpoint_not_found',
            'webhook_endpoint_disabled',
          ),
        },
      },
    },
    async (request, reply) => {
      const { appId } = await s.auth.app(request);
      const { since } = request.body;
      const ms = typeof since === 'number' ? since : Date.parse(since);
      if (Number.isNaN(ms))
        throw OncelyError.of('invalid_since', 'since is an ISO 8601 time or milliseconds since the epoch');
      const queued = await s.webhooks.replay(appId, request.params.id, ms);
      return reply.status(202).send({ queued });
    },
  );

  app.post(
    '/v1/webhook-deliveries/:id/retry',
    {
      schema: {
        summary: 'Send a finished (failed) delivery once more, now',
        security: bearer,
        params: Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) }),
        response: {
          202: Delivery,
          ...errors(
            asApp,
            'invalid_request',
            'webhook_delivery_not_found',
            'delivery_pending',
            'webhook_endpoint_disabled',
          ),
        },
      },
    },
    async (request, reply) => {
      const { appId } = await s.auth.app(request);
      return reply.status(202).send(await s.webhooks.retry(appId, request.params.id));
    },
  );
}
