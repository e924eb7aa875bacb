// Outbound webhooks as one part: endpoints, the outbox writer the event transactions run, the dispatcher,
// and what the API does with deliveries. The composition root builds it and registers its writer.
import type { SecretBox } from '../store/secret-box.js';
import { newId, type Clock } from '../clock.js';
import type { WebhookConfig } from '../config.js';
import { OncelyError } from '../errors.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { Bus } from '../realtime/bus.js';
import type { DeliveryState } from '../store/schema.js';
import type { Store } from '../store/store.js';
import { createDeliveries, type DeliveryView } from './deliveries.js';
import { createDispatcher, type Dispatcher, type DispatcherOptions } from './dispatcher.js';
import { createHttpSender } from './http-sender.js';
import { createOutboxWriter, type EventWriter } from './outbox.js';
import { triesFor } from './retry-schedule.js';
import { createSigner } from './signatures.js';
import { createWebhookEndpoints, type WebhookEndpoints } from './webhook-endpoints.js';

export interface WebhooksOptions {
  store: Store;
  bus: Bus;
  clock: Clock;
  metrics: Metrics;
  logger: Logger;
  config: WebhookConfig;
  /** Seals endpoint secrets at rest (store/secret-box.ts). @defaultValue stored in clear */
  secretBox?: SecretBox;
}

export interface Webhooks {
  endpoints: WebhookEndpoints;
  /** Writes the outbox rows of appended events inside their transaction (Invariant 2 extends to webhooks). */
  outboxWriter: EventWriter;
  /** Starts this instance's dispatcher (`yieldWhile`: see DispatcherOptions). */
  start(opts?: Pick<DispatcherOptions, 'yieldWhile'>): void;
  listDeliveries(
    appId: string,
    endpointId: string,
    q: { state?: DeliveryState | undefined; limit: number; before?: string | undefined },
  ): Promise<{ items: DeliveryView[]; hasMore: boolean }>;
  /** A finished delivery is sent once more, now. */
  retry(appId: string, deliveryId: string): Promise<DeliveryView>;
  /** Every event since `since` (ms) is sent to the endpoint again; returns how many were queued. */
  replay(appId: string, endpointId: string, since: number): Promise<number>;
  close(): Promise<void>;
}

export function createWebhooks(options: WebhooksOptions): Webhooks {
  const { store, clock, config } = options;
  const deliveries = createDeliveries({ store });
  const endpoints = createWebhookEndpoints({
    store,
    clock,
    allowPrivate: config.allowPrivate,
    secretBox: options.secretBox,
    onDisabled: (tx, appId, endpointId, reason) =>
      deliveries.failPending(tx, appId, endpointId, reason, clock.now()),
  });
  let dispatcher: Dispatcher | undefined;

  return {
    endpoints,
    outboxWriter: createOutboxWriter({
      endpoints,
      retrySchedule: config.retrySchedule,
      local: () => dispatcher,
      leaseMs: config.leaseMs,
    }),
    start(opts = {}) {
      dispatcher ??= createDispatcher({
        ...options,
        ...opts,
        endpoints,
        deliveries,
        sender: createHttpSender({ allowPrivate: config.allowPrivate, timeoutMs: config.timeoutMs }),
        signer: createSigner(),
      });
    },
    async listDeliveries(appId, endpointId, q) {
      await endpoints.get(appId, endpointId);
      return deliveries.list(appId, endpointId, q);
    },
    async retry(appId, deliveryId) {
      await deliveries.retry(appId, deliveryId, clock.now());
      dispatcher?.wake();
      return deliveries.get(appId, deliveryId);
    },
    async replay(appId, endpointId, since) {
      const now = clock.now();
      if (!Number.isFinite(since) || since > now)
        throw OncelyError.of('invalid_since', 'since must be a time in the past');
      await endpoints.get(appId, endpointId);
      const endpoint = (await endpoints.ofApp(store.db, appId)).find((e) => e.id === endpointId);
      if (!endpoint?.enabled) {
        throw OncelyError.of(
          'webhook_endpoint_disabled',
          `endpoint ${endpointId} is disabled: enable it first`,
        );
      }
      // Unordered: leased at insert to this instance's dispatcher, which reads them back without claiming.
      // Ordered: due, for the claim that checks seq order.
      const token = newId();
      const until = now + config.leaseMs;
      const local = endpoint.ordered ? undefined : dispatcher?.leasedInStore(token, appId, endpointId, until);
      try {
        const lease = local && { token, until, committed: local.committed };
        return await deliveries.replay(endpoint, since, now, triesFor(config.retrySchedule), lease);
      } finally {
        local?.complete();
        dispatcher?.wake();
      }
    },
    async close() {
      await dispatcher?.close();
    },
  };
}
