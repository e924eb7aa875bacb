// The seam between a queue consumer and its broker. One adapter per broker (RabbitMQ, Redis Streams, NATS
// JetStream) implements this contract, so the consumer's rules — acknowledge after commit, redeliver passing
// failures, dead-letter poison — are written once, in the runner.

/** One delivery of a message. The same message may be delivered again (at least once). */
export interface Delivery {
  /** The broker's id of the message (delivery tag, stream entry id, stream sequence), for logs. */
  readonly id: string;
  /** The message as it was published, as UTF-8 text (the dead letter keeps the original bytes). */
  readonly payload: string;
  /** Deliveries of this message so far, this one included (1 the first time), as the broker counts them. */
  readonly deliveryCount: number;
  /** Set when the adapter already knows the message can never be processed (a Redis entry with no payload). */
  readonly problem?: { reason: string; message: string } | undefined;
}

/** A delivery going to the dead letters, with why. */
export interface DeadLetter {
  delivery: Delivery;
  /** A stable snake_case code (`invalid_json`, `conversation_not_found`, `max_deliveries_exceeded`, …). */
  reason: string;
  /** What went wrong, for a person reading the dead letters. */
  message: string;
}

/**
 * A live connection to the broker, bound to one source and consumer group.
 *
 * Guarantees a caller may rely on: a delivery that is neither acknowledged nor dead-lettered is delivered
 * again (after `retry`, after the connection is lost, or after the process dies), with a higher
 * `deliveryCount`. What it does not promise: order between deliveries, or that a message is delivered only
 * once — the caller's effect must be idempotent.
 */
export interface BrokerConnection {
  /**
   * The next deliveries, at most `max`: those available at once, else the first ones to arrive (a broker that
   * pushes may wait a few ms more for the batch to fill while deliveries keep coming). Resolves with none when
   * `signal` aborts; rejects when the connection is lost.
   */
  receive(max: number, signal: AbortSignal): Promise<Delivery[]>;
  /** The broker forgets these. Call only once their effect has committed, or they were found repeats. */
  ack(deliveries: Delivery[]): Promise<void>;
  /** Hands these back to be delivered again, not before `delayMs`; resolves once that is arranged. */
  retry(deliveries: Delivery[], delayMs: number): Promise<void>;
  /**
   * Stores each in the source's dead letters with its reason and original payload, then acknowledges it.
   * Resolves after the broker has the dead letter durably, so a crash in between repeats it, never loses it.
   */
  deadLetter(letters: DeadLetter[]): Promise<void>;
  /** Messages not yet delivered to this consumer group, when the broker reports it. */
  lag(): Promise<number | undefined>;
  /** Resolves with the cause when the connection is lost. */
  readonly lost: Promise<Error>;
  close(): Promise<void>;
}

/** What the consumer holds at once: `batchesInFlight` batches of up to `batchSize` deliveries. */
export interface ReceiveWindow {
  batchSize: number;
  batchesInFlight: number;
}

/**
 * Deliveries a broker that pushes (RabbitMQ's prefetch, JetStream's pulls) may send ahead for `window`: the
 * batches in hand and one more, filled while they are handled, so that the next `receive` finds a whole batch
 * at once instead of waiting for the broker to refill after each acknowledgement.
 */
export const pushAhead = (window: ReceiveWindow) => (window.batchesInFlight + 1) * window.batchSize;

export interface Broker {
  /** What to call it in logs and status: `rabbitmq`, `redis-stream`, `jetstream`. */
  readonly kind: string;
  /**
   * Connects for a consumer holding `window`, and declares what is absent (queue and dead-letter exchange,
   * group, streams, consumer).
   */
  connect(window: ReceiveWindow): Promise<BrokerConnection>;
}

/** Resolves after `ms`, or at once when `signal` aborts. */
export function pause(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** Parks a `take` until a delivery arrives (`ring`), the signal aborts, or the connection is lost. */
class Doorbell {
  private waiting: (() => void) | undefined;

  /**
   * Resolves true when rung, false when `signal` aborts or `timeoutMs` passed without a ring. A timer that
   * came due while the event loop was busy first lets that loop turn read its sockets: what arrived
   * meanwhile rings before the timeout is believed.
   */
  wait(signal: AbortSignal, timeoutMs?: number): Promise<boolean> {
    return new Promise((resolve) => {
      if (signal.aborted) return resolve(false);
      let timer: NodeJS.Timeout | undefined;
      const done = (rang: boolean) => {
        clearTimeout(timer);
        signal.removeEventListener('abort', aborted);
        if (this.waiting === rung) this.waiting = undefined;
        resolve(rang);
      };
      const rung = () => done(true);
      const aborted = () => done(false);
      this.waiting = rung;
      signal.addEventListener('abort', aborted, { once: true });
      if (timeoutMs !== undefined) {
        timer = setTimeout(() => setImmediate(() => this.waiting === rung && done(false)), timeoutMs);
      }
    });
  }

  ring(): void {
    this.waiting?.();
  }
}

/** How long a pushed batch waits for more deliveries before it goes as it is (see `PushedDeliveries`). */
export const fillWaitMs = 2;

/**
 * Deliveries a broker pushes ahead (RabbitMQ's prefetch window, JetStream's pulls), held until `take`. A batch
 * is filled before it is handed out, while deliveries keep coming: they arrive a socket read at a time
 * (RabbitMQ: about 250), and handing out each read as it came made batches of 6 to 1,000 — each one a
 * transaction and a WAL flush, and each new size a new statement to prepare.
 */
export class PushedDeliveries<D extends Delivery> {
  private readonly buffered: D[] = [];
  private readonly doorbell = new Doorbell();
  /** How many buffered deliveries wake a waiting `take`: one while it waits for any, its `max` while it fills. */
  private wanted = 1;

  /** `windowFull`: whether the broker has stopped pushing until something is settled. */
  constructor(private readonly windowFull: () => boolean = () => false) {}

  push(delivery: D): void {
    this.buffered.push(delivery);
    if (this.buffered.length >= this.wanted) this.doorbell.ring();
  }

  /** Wakes a waiting `take`, to notice that the connection was lost. */
  wake(): void {
    this.doorbell.ring();
  }

  /**
   * Up to `max` deliveries, once at least one is there: more while they keep arriving (some within each
   * `fillWaitMs`), until `max`, a full window, `stopped()` or the signal (none if it aborts first).
   */
  async take(max: number, signal: AbortSignal, stopped: () => boolean): Promise<D[]> {
    this.wanted = 1;
    while (this.buffered.length === 0 && !signal.aborted && !stopped()) await this.doorbell.wait(signal);
    this.wanted = max;
    for (let before = -1; this.buffered.length > before && this.buffered.length < max;) {
      if (signal.aborted || stopped() || this.windowFull()) break;
      before = this.buffered.length;
      await this.doorbell.wait(signal, fillWaitMs);
    }
    this.wanted = 1;
    return this.buffered.splice(0, max);
  }
}
