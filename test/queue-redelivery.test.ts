// Each broker adapter with the runner against its real broker: a passing failure is delivered again with the
// delivery count the broker keeps, and on its last allowed delivery goes to the dead letters with its reason
// and original payload; one that passes on a later delivery is acknowledged once and never comes back.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConsumerKind } from '../src/config.js';
import type { Broker } from '../src/consumers/broker.js';
import { createConsumerRunner, type ConsumerRunner, type Verdict } from '../src/consumers/consumer-runner.js';
import { createJetStreamBroker } from '../src/consumers/jetstream-broker.js';
import { createRabbitMqBroker } from '../src/consumers/rabbitmq-broker.js';
import { createRedisStreamBroker } from '../src/consumers/redis-stream-broker.js';
import { brokerClients, type BrokerClient } from './broker-clients.js';
import {
  natsBinary,
  rabbitMqBinary,
  redisBinary,
  startNats,
  startRabbitMq,
  startRedis,
  type TestBroker,
} from './brokers.js';
import { waitFor } from './harness.js';

const maxDeliveries = 3;

const brokers: Array<{
  kind: ConsumerKind;
  binary: () => string | undefined;
  start: () => Promise<TestBroker>;
  adapter: (url: string, source: string) => Broker;
}> = [
  {
    kind: 'rabbitmq',
    binary: rabbitMqBinary,
    start: startRabbitMq,
    adapter: (url, queue) => createRabbitMqBroker({ url, queue, maxDeliveries }),
  },
  {
    kind: 'redis-stream',
    binary: redisBinary,
    start: startRedis,
    adapter: (url, stream) => createRedisStreamBroker({ url, stream, group: 'g', consumer: 'c' }),
  },
  {
    kind: 'jetstream',
    binary: natsBinary,
    start: startNats,
    adapter: (url, stream) => createJetStreamBroker({ url, stream, durable: 'g', maxDeliveries }),
  },
];

describe.each(brokers)('redelivery on $kind', ({ kind, binary, start, adapter }) => {
  const present = binary() !== undefined;
  let broker: TestBroker;
  let producer: BrokerClient;
  let runner: ConsumerRunner;
  /** Payload → the delivery counts it was handled with, in order. */
  const seen = new Map<string, number[]>();

  beforeAll(async () => {
    if (!present) return;
    broker = await start();
    runner = createConsumerRunner({
      name: `redelivery-${kind}`,
      broker: adapter(broker.url, 'flaky'),
      maxDeliveries,
      backoff: { initialMs: 20, maxMs: 100 },
      async handle(deliveries) {
        return deliveries.map((d): Verdict => {
          seen.set(d.payload, [...(seen.get(d.payload) ?? []), d.deliveryCount]);
          const fails = d.payload === '"always"' || (d.payload === '"twice"' && d.deliveryCount < 3);
          return fails
            ? { kind: 'retry', reason: 'store_unavailable', message: 'the store did not answer' }
            : { kind: 'ack', outcome: 'created' };
        });
      },
    });
    runner.start();
    // Publishing needs what the consumer declares (queue, streams) on its first connect.
    await waitFor(() => runner.status().state === 'running', 60_000);
    producer = await brokerClients[kind](broker.url);
  }, 120_000);

  afterAll(async () => {
    await runner?.close();
    await producer?.close().catch(() => undefined);
    await broker?.destroy();
  }, 60_000);

  it.skipIf(!present)(
    'a passing failure is redelivered with a rising count, then dead-lettered with its cause',
    async () => {
      await producer.publish('flaky', ['"always"', '"twice"', '"once"']);
      await waitFor(() => {
        const s = runner.status();
        return s.deadLettered === 1 && s.acked.created === 2;
      }, 30_000);
      expect(Object.fromEntries(seen)).toEqual({
        '"always"': [1, 2, 3],
        '"twice"': [1, 2, 3],
        '"once"': [1],
      });
      const s = runner.status();
      expect([s.received, s.retried, s.deadLettered]).toEqual([7, 4, 1]);
      const dead = await producer.deadLetters('flaky');
      expect(dead.map((d) => [d.payload, d.reason])).toEqual([['"always"', 'max_deliveries_exceeded']]);
      expect(dead[0]!.message).toContain('store_unavailable');
      // Settled for good: a message published afterwards is the only delivery that follows.
      await producer.publish('flaky', ['"marker"']);
      await waitFor(() => runner.status().acked.created === 3, 30_000);
      expect(runner.status().received).toBe(8);
      expect(seen.get('"always"')).toEqual([1, 2, 3]);
    },
  );
});
