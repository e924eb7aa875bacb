// Prometheus metrics (prom-client) on a registry of our own, so several servers in one process
// (tests) never share counters.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { Tally } from './tally.js';

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
    messagesExpired: new Counter({
      name: 'oncely_messages_expired_total',
      help: "Message bodies erased because their conversation's retention passed",
      registers: [registry],
    }),
    duplicates: new Tally({
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
    counterHold: new Histogram({
      name: 'oncely_store_counter_hold_seconds',
      help: 'PostgreSQL: how long a transaction held the stream-position counter (its last statement and commit)',
      buckets: [0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256],
      registers: [registry],
    }),
    groupCommitQueued: new Gauge({
      name: 'oncely_group_commit_queued',
      help: 'Sends waiting for a free group-commit slot (every group allowed in flight is under way)',
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
    realtimeDisconnects: new Counter({
      name: 'oncely_realtime_disconnects_total',
      help: 'Realtime connections the server ended or refused, by reason',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    busDropped: new Counter({
      name: 'oncely_bus_dropped_total',
      help: 'Bus messages not sent to other instances because Redis could not be reached (their devices catch up from the store)',
      registers: [registry],
    }),
    // Callbacks by app and source: the duplicate rate of a source is duplicate / received. Tallies: counted
    // on every callback, where a labelled inc costs more (tally.ts).
    callbacksReceived: new Tally({
      name: 'oncely_callbacks_received_total',
      help: 'Callbacks received for a known source, signed or not',
      labelNames: ['app', 'source'] as const,
      registers: [registry],
    }),
    callbacksDuplicate: new Tally({
      name: 'oncely_callbacks_duplicate_total',
      help: 'Callbacks repeating a msgId with the same payload (answered ignored/duplicate)',
      labelNames: ['app', 'source'] as const,
      registers: [registry],
    }),
    callbacksConflict: new Counter({
      name: 'oncely_callbacks_conflict_total',
      help: 'Callbacks repeating a msgId with another payload (answered ignored/duplicate, conflict:true)',
      labelNames: ['app', 'source'] as const,
      registers: [registry],
    }),
    callbacksRejected: new Counter({
      name: 'oncely_callbacks_rejected_total',
      help: 'Callbacks refused, by reason (invalid_signature, timestamp_out_of_tolerance, invalid_payload, …)',
      labelNames: ['app', 'source', 'reason'] as const,
      registers: [registry],
    }),
    callbacksIgnored: new Counter({
      name: 'oncely_callbacks_ignored_total',
      help: 'Valid callbacks carrying no message (e.g. a gewechat TypeName other than AddMsg), by reason',
      labelNames: ['app', 'source', 'reason'] as const,
      registers: [registry],
    }),
    batchItems: new Counter({
      name: 'oncely_batch_items_total',
      help: 'Batch items by mode and outcome (created, duplicate, failed)',
      labelNames: ['mode', 'status'] as const,
      registers: [registry],
    }),
    // The default metrics' oncely_nodejs_eventloop_lag_* gauges hold quantiles of the last scrape interval,
    // which cannot be added up across instances or over a window; a histogram can.
    eventLoopDelay: new Histogram({
      name: 'oncely_event_loop_delay_seconds',
      help: 'How late a 10 ms timer ran: how long work waited for the event loop',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    }),
    batchItemFailures: new Counter({
      name: 'oncely_batch_item_failures_total',
      help: 'Failed batch items by error code',
      labelNames: ['code'] as const,
      registers: [registry],
    }),
    // Queue consumers by configured name: the duplicate rate of a queue is duplicate / received.
    consumerMessages: new Counter({
      name: 'oncely_consumer_messages_total',
      help: 'Queue deliveries by consumer and outcome (received, created, duplicate, retried, dead_lettered)',
      labelNames: ['consumer', 'outcome'] as const,
      registers: [registry],
    }),
    consumerRunning: new Gauge({
      name: 'oncely_consumer_running',
      help: 'Whether a queue consumer is connected and consuming (1) or reconnecting (0)',
      labelNames: ['consumer'] as const,
      registers: [registry],
    }),
    consumerLag: new Gauge({
      name: 'oncely_consumer_lag',
      help: 'Messages waiting for a queue consumer, as its broker reports them',
      labelNames: ['consumer'] as const,
      registers: [registry],
    }),
    // Outbound webhooks, per app and endpoint.
    webhookAttempts: new Counter({
      name: 'oncely_webhook_attempts_total',
      help: 'Webhook requests made, by outcome (success: a 2xx in time; failure: anything else)',
      labelNames: ['app', 'endpoint', 'outcome'] as const,
      registers: [registry],
    }),
    webhookDeadLetters: new Counter({
      name: 'oncely_webhook_dead_letters_total',
      help: 'Webhook deliveries that failed their last try (state failed)',
      labelNames: ['app', 'endpoint'] as const,
      registers: [registry],
    }),
    webhookLatency: new Histogram({
      name: 'oncely_webhook_latency_seconds',
      help: 'Duration of one webhook request, until its answer or its failure',
      labelNames: ['app', 'endpoint'] as const,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    webhookQueueDepth: new Gauge({
      name: 'oncely_webhook_queue_depth',
      help: 'Pending webhook deliveries (due, retrying or in flight), refreshed by the dispatcher',
      labelNames: ['app', 'endpoint'] as const,
      registers: [registry],
    }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
