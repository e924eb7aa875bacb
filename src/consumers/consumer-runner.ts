// Runs one consumer: connects to its broker (again and again, with backoff), takes deliveries in batches,
// hands each batch to a handler, and settles every delivery by the handler's verdict — acknowledged after
// its effect, redelivered after a passing failure, dead-lettered when it can never succeed or has failed
// `maxDeliveries` times. Used for oncely's own ingest and for applications' handlers alike.
import { backoffDelay, type BackoffOptions } from '../../client/backoff.js';
import type { Logger } from '../observability/logger.js';
import { pause, type Broker, type BrokerConnection, type DeadLetter, type Delivery } from './broker.js';

/** What the handler decided for one delivery. */
export type Verdict =
  /** Done: its effect has committed, or it was a repeat. `outcome` labels it in the counts. */
  | { kind: 'ack'; outcome: string }
  /** A passing failure (the store is down, a precondition not met yet): deliver it again later. */
  | { kind: 'retry'; reason: string; message: string }
  /** Poison: it can never succeed. */
  | { kind: 'dead'; reason: string; message: string };

/**
 * Decides a verdict per delivery, in order. Resolve only after the effects of the `ack` verdicts have
 * committed. A rejection counts as a passing failure of the whole batch.
 */
export type BatchHandler = (deliveries: Delivery[]) => Promise<Verdict[]>;

export type ConsumerState = 'running' | 'reconnecting' | 'stopped';

export interface ConsumerRunnerOptions {
  name: string;
  broker: Broker;
  handle: BatchHandler;
  /** Deliveries a message gets; a passing failure on the last one dead-letters it. @defaultValue 5 */
  maxDeliveries?: number;
  /** Most deliveries handled as one batch. @defaultValue 256 (oncely's own consumers use 1,000) */
  batchSize?: number;
  /**
   * Batches handled at once; their settlements still happen in order. More than two gained nothing measurable
   * on any of the three brokers: the event loop is already busy nearly all the time with two (README, "Queue
   * consumers"). @defaultValue 2
   */
  batchesInFlight?: number;
  /** Reconnect and retry delays. @defaultValue first 1 s, doubling up to 30 s, half of it random */
  backoff?: BackoffOptions;
  /** Checked before each connect and before consuming again after failures; a throw keeps it waiting. */
  ready?: () => Promise<void>;
  logger?: Pick<Logger, 'info' | 'warn' | 'error'>;
  /** Told of every count, state change and lag reading (metrics). */
  observer?: ConsumerObserver;
}

export const consumerRunnerDefaults = {
  maxDeliveries: 5,
  batchSize: 256,
  batchesInFlight: 2,
  backoff: { initialMs: 1000, maxMs: 30_000, factor: 2, jitter: 0.5 },
} as const;

export interface ConsumerObserver {
  count(what: 'received' | 'retried' | 'dead_lettered' | string, n: number): void;
  state(state: ConsumerState): void;
  lag(lag: number): void;
}

export interface ConsumerStatus {
  name: string;
  kind: string;
  state: ConsumerState;
  /** When the state last changed (ISO 8601). */
  since: string;
  received: number;
  /** Acknowledged deliveries by the handler's outcome label (`created`, `duplicate`, …). */
  acked: Record<string, number>;
  retried: number;
  deadLettered: number;
  /** Messages waiting, as the broker last reported; null when it reports none. */
  lag: number | null;
  /** The last connection or handling error, until the next successful connect. */
  lastError: string | null;
}

export interface ConsumerRunner {
  /** Starts consuming in the background; connection failures are retried, never thrown. */
  start(): void;
  status(): ConsumerStatus;
  /** Stops taking deliveries, settles the batches in hand, and disconnects. */
  close(): Promise<void>;
}

const lagEveryMs = 2000;

export function createConsumerRunner(options: ConsumerRunnerOptions): ConsumerRunner {
  const d = consumerRunnerDefaults;
  const maxDeliveries = options.maxDeliveries ?? d.maxDeliveries;
  const batchSize = options.batchSize ?? d.batchSize;
  const batchesInFlight = options.batchesInFlight ?? d.batchesInFlight;
  const backoff = { ...d.backoff, ...options.backoff };
  const { broker, handle, logger, observer } = options;
  const stop = new AbortController();
  const status: ConsumerStatus = {
    name: options.name,
    kind: broker.kind,
    state: 'reconnecting',
    since: new Date().toISOString(),
    received: 0,
    acked: {},
    retried: 0,
    deadLettered: 0,
    lag: null,
    lastError: null,
  };
  let running: Promise<void> | undefined;

  function setState(state: ConsumerState): void {
    if (status.state === state) return;
    status.state = state;
    status.since = new Date().toISOString();
    observer?.state(state);
  }

  function count(what: string, n: number): void {
    if (n === 0) return;
    if (what === 'received') status.received += n;
    else if (what === 'retried') status.retried += n;
    else if (what === 'dead_lettered') status.deadLettered += n;
    else status.acked[what] = (status.acked[what] ?? 0) + n;
    observer?.count(what, n);
  }

  /** Verdicts for a batch: the runner's own rules first, then the handler's for the rest. */
  async function judge(batch: Delivery[]): Promise<Verdict[]> {
    const verdicts: Array<Verdict | undefined> = batch.map((delivery) => {
      if (delivery.deliveryCount > maxDeliveries) {
        // Delivered past the limit without a verdict: it took its consumer down each time (or the limit
        // was lowered). It is not tried again.
        return {
          kind: 'dead',
          reason: 'max_deliveries_exceeded',
          message: `delivered ${delivery.deliveryCount} times; the limit is ${maxDeliveries}`,
        };
      }
      if (delivery.problem) return { kind: 'dead', ...delivery.problem };
      return undefined;
    });
    const open = batch.filter((_, i) => verdicts[i] === undefined);
    if (open.length > 0) {
      let decided: Verdict[];
      try {
        decided = await handle(open);
        if (decided.length !== open.length) throw new Error('the handler gave a wrong number of verdicts');
      } catch (err) {
        logger?.warn({ err, consumer: options.name }, 'queue consumer: handling a batch failed');
        const message = (err as Error).message ?? String(err);
        decided = open.map(() => ({ kind: 'retry', reason: 'handler_failed', message }));
      }
      let next = 0;
      verdicts.forEach((v, i) => {
        if (v === undefined) verdicts[i] = decided[next++];
      });
    }
    return verdicts as Verdict[];
  }

  /** Settles a judged batch; true when anything but a passing failure happened. */
  async function settle(conn: BrokerConnection, batch: Delivery[], verdicts: Verdict[]): Promise<boolean> {
    const acks: Delivery[] = [];
    const retries: Delivery[] = [];
    const dead: DeadLetter[] = [];
    const outcomes = new Map<string, number>();
    batch.forEach((delivery, i) => {
      const v = verdicts[i]!;
      if (v.kind === 'ack') {
        acks.push(delivery);
        outcomes.set(v.outcome, (outcomes.get(v.outcome) ?? 0) + 1);
      } else if (v.kind === 'dead') {
        dead.push({ delivery, reason: v.reason, message: v.message });
      } else if (delivery.deliveryCount >= maxDeliveries) {
        dead.push({
          delivery,
          reason: 'max_deliveries_exceeded',
          message: `failed ${delivery.deliveryCount} deliveries; the last with ${v.reason}: ${v.message}`,
        });
      } else {
        retries.push(delivery);
      }
    });
    // Redelivery waits longer the more often a message has failed.
    const retryAfter = backoffDelay(Math.min(...retries.map((r) => r.deliveryCount)) - 1, backoff);
    await Promise.all([
      conn.ack(acks),
      dead.length > 0 ? conn.deadLetter(dead) : undefined,
      retries.length > 0 ? conn.retry(retries, retryAfter) : undefined,
    ]);
    for (const [outcome, n] of outcomes) count(outcome, n);
    count('retried', retries.length);
    count('dead_lettered', dead.length);
    for (const letter of dead) {
      logger?.warn(
        { consumer: options.name, id: letter.delivery.id, reason: letter.reason, message: letter.message },
        'queue consumer: message dead-lettered',
      );
    }
    return retries.length < batch.length;
  }

  /** Consumes until the connection is lost (rejects) or the consumer stops (resolves). */
  async function consume(conn: BrokerConnection): Promise<void> {
    const inFlight = new Set<Promise<void>>();
    let settled: Promise<unknown> = Promise.resolve();
    let broken: Error | undefined;
    let failures = 0;
    const lost = conn.lost.then((err) => {
      throw err;
    });
    lost.catch(() => undefined);
    const refreshLag = async () => {
      const lag = await conn.lag().catch(() => undefined);
      status.lag = lag ?? null;
      if (lag !== undefined) observer?.lag(lag);
    };
    const lagTimer = setInterval(() => void refreshLag(), lagEveryMs);
    lagTimer.unref();
    void refreshLag();
    try {
      while (!stop.signal.aborted) {
        if (broken) throw broken;
        const batch = await Promise.race([conn.receive(batchSize, stop.signal), lost]);
        if (batch.length === 0) continue;
        count('received', batch.length);
        const judged = judge(batch);
        // Handling overlaps; settling goes in delivery order, so acks follow the order they were received in.
        const job = (settled = Promise.all([judged, settled]).then(([verdicts]) =>
          settle(conn, batch, verdicts),
        ))
          .then((progress) => {
            failures = progress ? 0 : failures + 1;
          })
          .catch((err: Error) => {
            broken ??= err;
          })
          .finally(() => inFlight.delete(job));
        inFlight.add(job);
        while (inFlight.size >= batchesInFlight) await Promise.race(inFlight);
        // Nothing but passing failures: stop taking deliveries until things look better.
        while (failures > 0 && !stop.signal.aborted && !broken) {
          await pause(backoffDelay(failures - 1, backoff), stop.signal);
          const ok = await (options.ready?.() ?? Promise.resolve()).then(
            () => true,
            () => false,
          );
          if (ok) break;
        }
      }
      await Promise.all(inFlight);
      if (broken) throw broken;
    } finally {
      clearInterval(lagTimer);
      await Promise.allSettled(inFlight);
    }
  }

  async function run(): Promise<void> {
    for (let attempt = 0; !stop.signal.aborted;) {
      setState('reconnecting');
      let conn: BrokerConnection;
      try {
        await options.ready?.();
        conn = await broker.connect({ batchSize, batchesInFlight });
      } catch (err) {
        status.lastError = (err as Error).message ?? String(err);
        logger?.warn({ err, consumer: options.name, attempt }, 'queue consumer: cannot connect; retrying');
        await pause(backoffDelay(attempt++, backoff), stop.signal);
        continue;
      }
      attempt = 0;
      status.lastError = null;
      setState('running');
      logger?.info({ consumer: options.name, kind: broker.kind }, 'queue consumer running');
      try {
        await consume(conn);
      } catch (err) {
        if (!stop.signal.aborted) {
          status.lastError = (err as Error).message ?? String(err);
          logger?.warn({ err, consumer: options.name }, 'queue consumer: connection lost; reconnecting');
        }
      }
      await conn.close().catch(() => undefined);
      if (!stop.signal.aborted) await pause(backoffDelay(attempt++, backoff), stop.signal);
    }
    setState('stopped');
  }

  return {
    start() {
      running ??= run();
    },
    status: () => ({ ...status, acked: { ...status.acked } }),
    async close() {
      stop.abort();
      await running;
      setState('stopped');
    },
  };
}
