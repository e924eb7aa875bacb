// The dispatcher, one per instance: sends outbox rows signed, with a limit of requests in flight per endpoint,
// and records each attempt. Rows written on this instance come leased to it (local-leases.ts); the others are
// claimed when due, under a lease. Delivery is at least once: a row is finished only by a recorded 2xx (or its
// last failure); a crash anywhere before that leaves it due again after its lease.
import type { Clock } from '../clock.js';
import type { WebhookConfig } from '../config.js';
import { toWireEvent, type EventRecord, type WireEvent } from '../conversations/events.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { Bus } from '../realtime/bus.js';
import type { WebhookDeliveriesTable } from '../store/schema.js';
import type { Store } from '../store/store.js';
import type { AttemptOutcome, Deliveries } from './deliveries.js';
import type { HttpSender } from './http-sender.js';
import { retryDelayMs } from './retry-schedule.js';
import type { Signer } from './signatures.js';
import { createAttemptRecorder } from './attempt-recorder.js';
import { bodyOf, createLocalLeases, type LocalDispatch } from './local-leases.js';
import { signingSecrets, type WebhookEndpoints } from './webhook-endpoints.js';

export interface DispatcherOptions {
  store: Store;
  bus: Bus;
  clock: Clock;
  metrics: Metrics;
  logger: Logger;
  endpoints: WebhookEndpoints;
  deliveries: Deliveries;
  sender: HttpSender;
  signer: Signer;
  config: WebhookConfig;
  /** For jitter; in [0, 1). */
  random?: () => number;
  /**
   * While this answers true (the writer of sends is busy), no new request starts: a delivery may wait —
   * delivery is asynchronous by contract — while a sender waits for its answer, and on a CPU-bound server
   * every delivery is taken from the sends. A delivery gives way for `yieldAtMostMs` at most, so a lasting
   * load of sends slows deliveries down but never starves them. @defaultValue never
   */
  yieldWhile?: () => boolean;
}

/** Rows one instance holds at most (in flight and waiting for their endpoint's free slot). */
const maxHeld = 2000;
/** How often the queue depth gauge is refreshed, and finished deliveries past retention are deleted. */
const housekeepingMs = 5000;
/** Longest a due delivery waits while the sends' writer is busy (`yieldWhile`); how often that is looked at. */
const yieldAtMostMs = 5000;
const yieldCheckMs = 10;
interface EndpointSlots {
  inFlight: number;
  /** Rows leased to this instance in a transaction not yet known to have committed (local-leases.ts). */
  reserved: number;
  /** `since`: when it was handed to this endpoint's queue. */
  waiting: Array<{ row: WebhookDeliveriesTable; body: string | undefined; since: number }>;
}

/** The body of every attempt of one event: `{"type","timestamp","data":<event>}`, as the event is now. */
export function payloadOf(event: EventRecord): string {
  return bodyOf(toWireEvent(event));
}

export function createDispatcher(options: DispatcherOptions) {
  const { store, clock, metrics, logger, endpoints, deliveries, sender, signer, config } = options;
  const random = options.random ?? Math.random;
  // An endpoint holds at most this many rows: its in-flight slots and three times as many waiting. A row then
  // waits behind at most three timeouts of a hung receiver — less than the lease, and `attempt` checks that
  // enough lease is left — while a fast receiver's slots are refilled before they run dry.
  const perEndpoint = config.endpointConcurrency * 4;
  const slots = new Map<string, EndpointSlots>();
  /** Held rows: leased to this instance, in flight, waiting for a slot or for their commit (`written`). */
  let held = 0;
  let claiming = false;
  let again = false;
  let closed = false;
  const inFlight = new Set<Promise<void>>();
  /** Rows whose request `close()` cut short: given back, not recorded. */
  const abandoned: WebhookDeliveriesTable[] = [];

  /**
   * The exclusion set of the last claim that found nothing. Claiming again with the same set (after a request
   * ends) would only scan the same backlog of saturated endpoints; a wake (new events, the poll, an API call,
   * a recorded ordered delivery) clears it.
   */
  let foundNothingWith: string | undefined;

  // Per-endpoint metric children, made once: looking labels up on every attempt showed in the profile.
  const meters = new Map<string, ReturnType<typeof makeMeters>>();
  const makeMeters = (app: string, endpoint: string) => ({
    success: metrics.webhookAttempts.labels(app, endpoint, 'success'),
    failure: metrics.webhookAttempts.labels(app, endpoint, 'failure'),
    latency: metrics.webhookLatency.labels(app, endpoint),
    dead: metrics.webhookDeadLetters.labels(app, endpoint),
  });
  function metersFor(row: WebhookDeliveriesTable) {
    const key = keyOf(row);
    let m = meters.get(key);
    if (!m) {
      if (meters.size > 10_000) meters.clear();
      meters.set(key, (m = makeMeters(row.app_id, row.endpoint_id)));
    }
    return m;
  }

  const keyOf = (row: { app_id: string; endpoint_id: string }) => `${row.app_id}\n${row.endpoint_id}`;

  async function pump(): Promise<void> {
    if (claiming) {
      again = true;
      return;
    }
    claiming = true;
    try {
      do {
        again = false;
        await local.readStored();
        const room = maxHeld - held;
        if (closed || room <= 0) break;
        const exclude = [...slots]
          .filter(([, s]) => s.inFlight + s.waiting.length >= perEndpoint)
          .map(([key]) => {
            const [appId, endpointId] = key.split('\n') as [string, string];
            return { appId, endpointId };
          });
        const limit = Math.min(perEndpoint, room);
        const excluded = exclude.map((e) => `${e.appId}\n${e.endpointId}`).join('\n');
        if (foundNothingWith === excluded) break;
        const rows = await deliveries.claim(clock.now(), config.leaseMs, limit, exclude);
        if (rows.length === 0) {
          foundNothingWith = excluded;
          break;
        }
        await enqueueWithEvents(rows);
        // A full claim: more may be due.
        if (rows.length === limit) again = true;
      } while (again);
    } catch (err) {
      logger.error({ err }, 'webhook claim failed');
    } finally {
      claiming = false;
    }
  }

  function slotsOf(key: string): EndpointSlots {
    let s = slots.get(key);
    if (!s) slots.set(key, (s = { inFlight: 0, reserved: 0, waiting: [] }));
    return s;
  }

  function forgetIfIdle(key: string, s: EndpointSlots): void {
    if (s.inFlight === 0 && s.waiting.length === 0 && s.reserved === 0) slots.delete(key);
  }

  function room(appId: string, endpointId: string): number {
    if (closed) return 0;
    const s = slots.get(`${appId}\n${endpointId}`);
    const used = s ? s.inFlight + s.waiting.length + s.reserved : 0;
    return Math.max(0, Math.min(perEndpoint - used, maxHeld - held));
  }

  /** Queues claimed rows with their events' bodies as they are now (read-back rows come with their events). */
  async function enqueueWithEvents(rows: WebhookDeliveriesTable[]): Promise<void> {
    const events = new Map((await deliveries.events(rows.map((r) => r.event_id))).map((e) => [e.id, e]));
    for (const row of rows) {
      const event = events.get(row.event_id);
      enqueue(row, event && payloadOf(event));
    }
  }

  const local = createLocalLeases({
    deliveries,
    clock,
    timeoutMs: config.timeoutMs,
    room,
    hold(row, delta) {
      held += delta;
      const key = keyOf(row);
      const s = slotsOf(key);
      s.reserved += delta;
      forgetIfIdle(key, s);
    },
    enqueue,
    enqueueRead(rows) {
      for (const { row, event } of rows) enqueue(row, event && payloadOf(event));
    },
    wake,
    pump: () => void pump(),
  });

  function enqueue(row: WebhookDeliveriesTable, body: string | undefined): void {
    const key = keyOf(row);
    const s = slotsOf(key);
    held++;
    s.waiting.push({ row, body, since: performance.now() });
    startWaiting(key, s);
  }

  function startWaiting(key: string, s: EndpointSlots): void {
    while (!closed && s.inFlight < config.endpointConcurrency && s.waiting.length > 0) {
      if (yielding(s)) return recheckSoon();
      const next = s.waiting.shift()!;
      s.inFlight++;
      const running = attempt(next.row, next.body)
        .catch((err) => logger.error({ err, deliveryId: next.row.id }, 'webhook attempt failed'))
        .finally(() => {
          inFlight.delete(running);
          s.inFlight--;
          forgetIfIdle(key, s);
          if (slots.has(key)) startWaiting(key, s);
          // Fewer waiting than slots: fetch the endpoint's next rows before its slots go idle.
          if (s.waiting.length < config.endpointConcurrency) void pump();
        });
      inFlight.add(running);
    }
  }

  /** Whether the endpoint's next delivery gives way to sends now (see `yieldWhile`). */
  function yielding(s: EndpointSlots): boolean {
    if (!options.yieldWhile?.()) return false;
    return performance.now() - s.waiting[0]!.since < yieldAtMostMs;
  }

  /** Looks again shortly at every endpoint held back by `yielding`. */
  let recheck: NodeJS.Timeout | undefined;
  function recheckSoon(): void {
    recheck ??= setTimeout(() => {
      recheck = undefined;
      for (const [key, s] of slots) startWaiting(key, s);
    }, yieldCheckMs);
  }

  async function attempt(row: WebhookDeliveriesTable, body: string | undefined): Promise<void> {
    const endpoint = (await endpoints.ofApp(store.db, row.app_id)).find((e) => e.id === row.endpoint_id);
    const now = clock.now();
    // Deleted endpoint: its rows went with it. Too little lease left: another claim may soon take the row,
    // so leave it to that one rather than send it twice at once.
    if (!endpoint || Number(row.next_attempt_at) - now < config.timeoutMs) return done();
    if (!endpoint.enabled || body === undefined) {
      const error = body === undefined ? 'the event no longer exists' : 'endpoint disabled';
      return finish({
        delivery: row,
        attemptedAt: now,
        statusCode: null,
        durationMs: 0,
        error,
        succeeded: false,
        retryAt: undefined,
      });
    }
    const headers = signer.sign(row.event_id, now, body, signingSecrets(endpoint, now));
    const result = await sender.send(endpoint.url, headers, body);
    if (result.aborted) {
      abandoned.push(row);
      return done();
    }
    const succeeded = result.error === null;
    const meter = metersFor(row);
    (succeeded ? meter.success : meter.failure).inc();
    meter.latency.observe(result.durationMs / 1000);
    const gone = result.statusCode === 410;
    const delay =
      succeeded || gone ? undefined : retryDelayMs(config.retrySchedule, Number(row.tries_left), random);
    if (!succeeded && delay === undefined) meter.dead.inc();
    const recorded = finish({
      delivery: row,
      attemptedAt: now,
      statusCode: result.statusCode,
      durationMs: result.durationMs,
      error: result.error,
      succeeded,
      retryAt: delay === undefined ? undefined : clock.now() + delay,
    });
    if (gone) {
      // The receiver says the endpoint is gone for good: stop sending to it until the app enables it again.
      // After this attempt is recorded, so that its 410 is what the dead letter shows.
      await recorded;
      logger.warn({ app: row.app_id, endpoint: row.endpoint_id }, 'webhook endpoint answered 410: disabled');
      await endpoints.disable(row.app_id, row.endpoint_id, 'gone');
    }
  }

  function done(): void {
    held--;
    void pump();
  }

  const recorder = createAttemptRecorder({
    deliveries,
    clock,
    logger,
    recorded(batch) {
      held -= batch.length;
      // For ordered endpoints the next seq of a conversation is now claimable.
      if (batch.some((o) => Number(o.delivery.ordered) === 1)) foundNothingWith = undefined;
      void pump();
    },
  });
  const finish = (outcome: AttemptOutcome) => recorder.record(outcome);

  function wake(): void {
    foundNothingWith = undefined;
    void pump();
  }

  async function housekeeping(): Promise<void> {
    const depth = await store.db
      .selectFrom('webhook_deliveries')
      .select(['app_id', 'endpoint_id', (eb) => eb.fn.countAll<number>().as('n')])
      .where('state', '=', 'pending')
      .groupBy(['app_id', 'endpoint_id'])
      .execute();
    metrics.webhookQueueDepth.reset();
    for (const d of depth)
      metrics.webhookQueueDepth.set({ app: d.app_id, endpoint: d.endpoint_id }, Number(d.n));
    const before = clock.now() - config.retentionSeconds * 1000;
    while ((await deliveries.expire(before, 1000)) === 1000 && !closed);
  }

  // Committed events reach the dispatcher at once (those of other instances too, through a shared bus), in
  // the next turn: not inside the publisher's call.
  let heard: WireEvent[] = [];
  let lostSome = false;
  let turnQueued = false;
  const nextTurn = () => {
    if (turnQueued || closed) return;
    turnQueued = true;
    setImmediate(() => {
      turnQueued = false;
      const events = heard;
      heard = [];
      if (lostSome) {
        lostSome = false;
        wake();
      }
      local.committed(events);
    });
  };
  const subscribed = options.bus.subscribe({
    message: (message) => {
      if (message.kind !== 'event') return;
      heard.push(message.event);
      nextTurn();
    },
    // Wake-ups were lost while the bus was away: look for due rows now.
    lost: () => {
      lostSome = true;
      nextTurn();
    },
  });
  const poll = setInterval(() => {
    local.letGoStale();
    wake();
  }, config.pollMs);
  const keep = setInterval(
    () => void housekeeping().catch((err) => logger.error({ err }, 'webhook housekeeping failed')),
    housekeepingMs,
  );
  poll.unref();
  keep.unref();
  void pump();

  return {
    /** Claims due rows now (tests, and after an API call made rows due). */
    wake,
    room,
    written: local.written,
    leasedInStore: local.leasedInStore,
    /** Stops claiming, cuts requests in flight short, records what finished and gives back the rest. */
    async close(): Promise<void> {
      closed = true;
      clearTimeout(recheck);
      clearInterval(poll);
      clearInterval(keep);
      (await subscribed)();
      await sender.close();
      await Promise.allSettled([...inFlight]);
      await recorder.close();
      const unsent = [...slots.values()].flatMap((s) => s.waiting.map((w) => w.row));
      await deliveries.release([...abandoned, ...unsent], clock.now());
      await local.release(clock.now());
    },
  };
}

export type Dispatcher = ReturnType<typeof createDispatcher> & LocalDispatch;
