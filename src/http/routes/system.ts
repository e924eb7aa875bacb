// Liveness, readiness, metrics and the OpenAPI document.
import type { TypedApp } from '../server.js';
import type { Services } from '../../services.js';
import { asAdmin, errors } from '../schemas.js';
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

  const Check = Type.Union([Type.Literal('ok'), Type.Literal('unavailable')]);
  const Readiness = Type.Object({
    status: Type.Union([Type.Literal('ready'), Type.Literal('not_ready')]),
    checks: Type.Object({ store: Check, bus: Check }),
  });
  // Ready when the store and the bus both answer; 503 names the one that does not.
  app.get(
    '/readyz',
    {
      schema: {
        summary: 'Readiness: the store and the bus are reachable (503 naming the one that is not)',
        security: [],
        response: { 200: Readiness, 503: Readiness },
      },
    },
    async (_request, reply) => {
      const check = async (name: string, ping: () => Promise<void>) => {
        try {
          await ping();
          return 'ok' as const;
        } catch (err) {
          s.logger.warn({ err: (err as Error).message, check: name }, 'readiness check failed');
          return 'unavailable' as const;
        }
      };
      const [store, bus] = await Promise.all([
        check('store', () => s.store.ping()),
        check('bus', () => s.bus.ping()),
      ]);
      const ready = store === 'ok' && bus === 'ok';
      return reply
        .status(ready ? 200 : 503)
        .send({ status: ready ? ('ready' as const) : ('not_ready' as const), checks: { store, bus } });
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
          ...errors(asAdmin),
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
