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
   * The next deliveries, at most `max`: those available at once, else the first ones to arrive. Resolves
   * with none when `signal` aborts; rejects when the connection is lost.
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

export interface Broker {
  /** What to call it in logs and status: `rabbitmq`, `redis-stream`, `jetstream`. */
  readonly kind: string;
  /** Connects, and declares what is absent (queue and dead-letter exchange, group, streams, consumer). */
  connect(): Promise<BrokerConnection>;
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

/** Parks a `receive` until a delivery arrives (`ring`), the signal aborts, or the connection is lost. */
export class Doorbell {
  private waiting: (() => void) | undefined;

  wait(signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      if (signal.aborted) return resolve();
      const done = () => {
        signal.removeEventListener('abort', done);
        this.waiting = undefined;
        resolve();
      };
      this.waiting = done;
      signal.addEventListener('abort', done, { once: true });
    });
  }

  ring(): void {
    this.waiting?.();
  }
}
