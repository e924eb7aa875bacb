// Queue consumers' status (admin): state, counts and lag per configured consumer — the same figures as the
// `oncely_consumer_*` metrics.
import { Type } from '@sinclair/typebox';
import type { Services } from '../../services.js';
import type { TypedApp } from '../server.js';
import { asAdmin, bearer, errors } from '../schemas.js';

const Consumer = Type.Object({
  name: Type.String(),
  kind: Type.Union([Type.Literal('rabbitmq'), Type.Literal('redis-stream'), Type.Literal('jetstream')]),
  source: Type.String(),
  group: Type.Union([Type.String(), Type.Null()]),
  appId: Type.String(),
  state: Type.Union([Type.Literal('running'), Type.Literal('reconnecting'), Type.Literal('stopped')], {
    description: 'running: connected and consuming; reconnecting: not connected (yet or any more), retrying',
  }),
  since: Type.String({ description: 'when the state last changed' }),
  received: Type.Integer({ description: 'deliveries received, repeats and redeliveries included' }),
  created: Type.Integer({ description: 'messages created' }),
  duplicate: Type.Integer({ description: 'repeats of a key already committed, acknowledged' }),
  retried: Type.Integer({ description: 'deliveries handed back after a passing failure' }),
  deadLettered: Type.Integer({ description: 'deliveries moved to the dead letters' }),
  lag: Type.Union([Type.Integer(), Type.Null()], { description: 'messages waiting, as the broker reports' }),
  lastError: Type.Union([Type.String(), Type.Null()]),
});

export function registerConsumerRoutes(app: TypedApp, s: Services): void {
  app.get(
    '/v1/consumers',
    {
      schema: {
        summary: 'Queue consumers: state, counts and lag (admin token)',
        security: bearer,
        response: { 200: Type.Object({ items: Type.Array(Consumer) }), ...errors(asAdmin) },
      },
    },
    async (request) => {
      await s.auth.admin(request);
      return { items: s.consumers.list() };
    },
  );
}
