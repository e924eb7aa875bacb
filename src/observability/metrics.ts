// Prometheus metrics (prom-client) on a registry of our own, so several servers in one process
// (tests) never share counters.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'oncely_' });
  return {
    registry,
    messagesCreated: new Counter({
      name: 'oncely_messages_created_total',
      help: 'Messages created, by entry point',
      labelNames: ['source'] as const,
      registers: [registry],
    }),
    duplicates: new Counter({
      name: 'oncely_duplicates_total',
      help: 'Repeats answered from the stored result, by entry point',
      labelNames: ['source'] as const,
      registers: [registry],
    }),
    idempotencyConflicts: new Counter({
      name: 'oncely_idempotency_conflicts_total',
      help: 'Keys reused with a different payload, by entry point',
      labelNames: ['source'] as const,
      registers: [registry],
    }),
    ingestLatency: new Histogram({
      name: 'oncely_ingest_latency_seconds',
      help: 'From submit to commit of one ingest command',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
      registers: [registry],
    }),
    groupCommitSize: new Histogram({
      name: 'oncely_group_commit_size',
      help: 'Commands committed together in one transaction',
      buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024],
      registers: [registry],
    }),
    connections: new Gauge({
      name: 'oncely_connections',
      help: 'Live realtime connections, by transport',
      labelNames: ['transport'] as const,
      registers: [registry],
    }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
