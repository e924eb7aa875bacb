// What a producer and an operator do with each broker in tests and benchmarks: publish payloads to a
// source, and read back its dead letters (original payload and reason).
import amqp from 'amqplib';
import { Redis } from 'ioredis';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect as natsConnect } from '@nats-io/transport-node';
import type { ConsumerKind } from '../src/config.js';
import { deadLetterQueue, deadLetterHeaders as rabbitHeaders } from '../src/consumers/rabbitmq-broker.js';
import { deadLetterStream } from '../src/consumers/redis-stream-broker.js';
import { deadLetterHeaders as natsHeaders, deadLetterStreamName } from '../src/consumers/jetstream-broker.js';

export interface DeadLetterRecord {
  payload: string;
  reason: string;
  message: string;
}

export interface BrokerClient {
  kind: ConsumerKind;
  /** Publishes each payload to the source (which the consumer has declared), confirmed by the broker. */
  publish(source: string, payloads: string[]): Promise<void>;
  /** The source's dead letters, oldest first. */
  deadLetters(source: string): Promise<DeadLetterRecord[]>;
  close(): Promise<void>;
}

const chunk = 500;

export async function rabbitMqClient(url: string): Promise<BrokerClient> {
  const model = await amqp.connect(url);
  const ch = await model.createConfirmChannel();
  return {
    kind: 'rabbitmq',
    async publish(queue, payloads) {
      for (let i = 0; i < payloads.length; i += chunk) {
        for (const p of payloads.slice(i, i + chunk)) {
          ch.sendToQueue(queue, Buffer.from(p), { persistent: true, contentType: 'application/json' });
        }
        await ch.waitForConfirms();
      }
    },
    async deadLetters(queue) {
      // Read without taking them: fetched unacknowledged, then handed back when the channel closes.
      const reader = await model.createChannel();
      const out: DeadLetterRecord[] = [];
      for (;;) {
        const m = await reader.get(deadLetterQueue(queue), { noAck: false });
        if (!m) break;
        const h = m.properties.headers ?? {};
        const death = (h['x-death'] as Array<{ reason: string }> | undefined)?.[0];
        out.push({
          payload: m.content.toString(),
          reason: String(h[rabbitHeaders.reason] ?? death?.reason ?? ''),
          message: String(h[rabbitHeaders.message] ?? ''),
        });
      }
      await reader.close();
      return out;
    },
    close: () => model.close(),
  };
}

export async function redisStreamClient(url: string): Promise<BrokerClient> {
  const redis = new Redis(url);
  return {
    kind: 'redis-stream',
    async publish(stream, payloads) {
      for (let i = 0; i < payloads.length; i += chunk) {
        const pipeline = redis.pipeline();
        for (const p of payloads.slice(i, i + chunk)) pipeline.xadd(stream, '*', 'payload', p);
        await pipeline.exec();
      }
    },
    async deadLetters(stream) {
      const entries = await redis.xrange(deadLetterStream(stream), '-', '+');
      return entries.map(([, fields]) => {
        const f: Record<string, string> = {};
        for (let i = 0; i + 1 < fields.length; i += 2) f[fields[i]!] = fields[i + 1]!;
        return { payload: f.payload ?? '', reason: f.reason ?? '', message: f.message ?? '' };
      });
    },
    close: async () => void redis.disconnect(),
  };
}

export async function jetStreamClient(url: string): Promise<BrokerClient> {
  const nc = await natsConnect({ servers: url.replace(/^nats:\/\//, '') });
  const js = jetstream(nc);
  const jsm = await jetstreamManager(nc);
  return {
    kind: 'jetstream',
    async publish(stream, payloads) {
      for (let i = 0; i < payloads.length; i += chunk) {
        await Promise.all(payloads.slice(i, i + chunk).map((p) => js.publish(`${stream}.in`, p)));
      }
    },
    async deadLetters(stream) {
      const name = deadLetterStreamName(stream);
      const { state } = await jsm.streams.info(name);
      const out: DeadLetterRecord[] = [];
      for (let seq = state.first_seq; state.messages > 0 && seq <= state.last_seq; seq++) {
        const m = await jsm.streams.getMessage(name, { seq });
        if (!m) continue;
        out.push({
          payload: m.string(),
          reason: m.header.get(natsHeaders.reason),
          message: m.header.get(natsHeaders.message),
        });
      }
      return out;
    },
    close: () => nc.close(),
  };
}

export const brokerClients: Record<ConsumerKind, (url: string) => Promise<BrokerClient>> = {
  rabbitmq: rabbitMqClient,
  'redis-stream': redisStreamClient,
  jetstream: jetStreamClient,
};
