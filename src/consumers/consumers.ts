// oncely's queue consumers (docs/design.md, "Inbound adapters"): one runner per configured consumer, each
// message decoded as a batch item and written through the queue ingest under the scope `queue:{name}`.
import type { ConsumerConfig, ConsumerKind } from '../config.js';
import { queueScope } from '../idempotency/scope.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { Store } from '../store/store.js';
import type { Broker } from './broker.js';
import {
  createConsumerRunner,
  type BatchHandler,
  type ConsumerRunner,
  type ConsumerState,
  type Verdict,
} from './consumer-runner.js';
import { createJetStreamBroker } from './jetstream-broker.js';
import type { QueueIngest, QueueItemOutcome } from './queue-ingest.js';
import { decodeQueueMessage } from './queue-message.js';
import { createRabbitMqBroker } from './rabbitmq-broker.js';
import { createRedisStreamBroker } from './redis-stream-broker.js';

export interface ConsumersOptions {
  configs: ConsumerConfig[];
  ingest: QueueIngest;
  store: Store;
  metrics: Metrics;
  logger: Logger;
  /** This process's consumer name within a Redis consumer group: stable across restarts of one instance. */
  instanceName: string;
  /** Most messages written as one group; at most the batch size limit. */
  batchSize: number;
}

/** One consumer as `GET /v1/consumers` shows it. */
export interface ConsumerView {
  name: string;
  kind: ConsumerKind;
  source: string;
  /** Consumer group or durable name; null for RabbitMQ, which has none. */
  group: string | null;
  appId: string;
  state: ConsumerState;
  since: string;
  received: number;
  created: number;
  duplicate: number;
  retried: number;
  deadLettered: number;
  lag: number | null;
  lastError: string | null;
}

export interface Consumers {
  start(): void;
  list(): ConsumerView[];
  close(): Promise<void>;
}

const brokers: Record<ConsumerKind, (c: ConsumerConfig, instanceName: string) => Broker> = {
  rabbitmq: (c) => createRabbitMqBroker({ url: c.url, queue: c.source, maxDeliveries: c.maxDeliveries }),
  'redis-stream': (c, instanceName) =>
    createRedisStreamBroker({ url: c.url, stream: c.source, group: c.group, consumer: instanceName }),
  jetstream: (c) =>
    createJetStreamBroker({ url: c.url, stream: c.source, durable: c.group, maxDeliveries: c.maxDeliveries }),
};

function verdict(outcome: QueueItemOutcome): Verdict {
  switch (outcome.status) {
    case 'created':
    case 'duplicate':
      return { kind: 'ack', outcome: outcome.status };
    case 'poison':
      return { kind: 'dead', reason: outcome.code, message: outcome.message };
    case 'transient':
      return { kind: 'retry', reason: outcome.code, message: outcome.message };
  }
}

/** Decodes each delivery and writes the valid ones as one group; verdicts in delivery order. */
function ingestHandler(config: ConsumerConfig, ingest: QueueIngest): BatchHandler {
  const scope = queueScope(config.name);
  return async (deliveries) => {
    const verdicts: Verdict[] = new Array(deliveries.length);
    const items = [];
    const at: number[] = [];
    for (let i = 0; i < deliveries.length; i++) {
      const decoded = decodeQueueMessage(deliveries[i]!.payload);
      if ('item' in decoded) {
        items.push(decoded.item);
        at.push(i);
      } else {
        verdicts[i] = { kind: 'dead', reason: decoded.reason, message: decoded.message };
      }
    }
    if (items.length > 0) {
      const outcomes = await ingest.submit(config.appId, scope, 'queue', items);
      outcomes.forEach((o, k) => (verdicts[at[k]!] = verdict(o)));
    }
    return verdicts;
  };
}

export function createConsumers(options: ConsumersOptions): Consumers {
  const { store, metrics, logger } = options;
  const runners = options.configs.map((config) => {
    const label = { consumer: config.name };
    const runner: ConsumerRunner = createConsumerRunner({
      name: config.name,
      broker: brokers[config.kind](config, options.instanceName),
      handle: ingestHandler(config, options.ingest),
      maxDeliveries: config.maxDeliveries,
      batchSize: options.batchSize,
      // Consuming for an app that does not exist would dead-letter every message: wait for it instead.
      async ready() {
        const app = await store.db
          .selectFrom('apps')
          .select('id')
          .where('id', '=', config.appId)
          .executeTakeFirst();
        if (!app) throw new Error(`app ${config.appId} does not exist`);
      },
      logger,
      observer: {
        count: (outcome, n) => metrics.consumerMessages.inc({ ...label, outcome }, n),
        state: (state) => metrics.consumerRunning.set(label, state === 'running' ? 1 : 0),
        lag: (lag) => metrics.consumerLag.set(label, lag),
      },
    });
    metrics.consumerRunning.set(label, 0);
    return { config, runner };
  });

  return {
    start() {
      for (const { runner } of runners) runner.start();
    },
    list() {
      return runners.map(({ config, runner }) => {
        const s = runner.status();
        return {
          name: config.name,
          kind: config.kind,
          source: config.source,
          group: config.kind === 'rabbitmq' ? null : config.group,
          appId: config.appId,
          state: s.state,
          since: s.since,
          received: s.received,
          created: s.acked.created ?? 0,
          duplicate: s.acked.duplicate ?? 0,
          retried: s.retried,
          deadLettered: s.deadLettered,
          lag: s.lag,
          lastError: s.lastError,
        };
      });
    },
    async close() {
      await Promise.all(runners.map(({ runner }) => runner.close()));
    },
  };
}
