// Liveness, readiness, metrics and the OpenAPI document.
import type { TypedApp } from '../server.js';
import type { Services } from '../../services.js';
import { ErrorBody, errors } from '../schemas.js';
import { Type } from '@sinclair/typebox';

export function registerSystemRoutes(app: TypedApp, s: Services): void {
  app.get(
    '/healthz',
    {
      schema: {
        summary: 'Liveness: the process answers',
        security: [],
        response: { 200: Type.Object({ status: Type.Literal('ok') }) },
      },
    },
    async () => ({ status: 'ok' as const }),
  );

  const Ready = Type.Object({ status: Type.Literal('ready') });
  app.get(
    '/readyz',
    {
      schema: {
        summary: 'Readiness: the store is reachable (503 while it is not)',
        security: [],
        response: { 200: Ready, 503: ErrorBody },
      },
    },
    async (_request, reply) => {
      try {
        await s.store.ping();
        return { status: 'ready' as const };
      } catch (err) {
        s.logger.warn({ err }, 'readiness check failed');
        return reply
          .status(503)
          .send({ error: { code: 'not_ready', message: 'the store is not reachable' } });
      }
    },
  );

  app.get(
    '/metrics',
    {
      schema: {
        summary: 'Prometheus metrics (admin token)',
        security: [{ bearer: [] }],
        response: {
          200: {
            description: 'Prometheus text exposition format',
            content: { 'text/plain': { schema: Type.String() } },
          },
          ...errors(401, 403),
        },
      },
    },
    async (request, reply) => {
      await s.auth.admin(request);
      reply.header('content-type', s.metrics.registry.contentType);
      return s.metrics.registry.metrics();
    },
  );

  app.get('/openapi.json', { schema: { hide: true, response: { 200: Type.Unknown() } } }, async () =>
    app.swagger(),
  );
}
