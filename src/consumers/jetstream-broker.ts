// NATS JetStream behind the Broker contract (@nats-io/jetstream): a durable pull consumer on the stream
// `{source}` (subjects `{source}.>`), acknowledged explicitly; redelivery counts come from each message's
// info. Dead letters are published to `dead.{source}`, kept by the stream `{source}_dead`.
import {
  AckPolicy,
  DeliverPolicy,
  JetStreamApiError,
  jetstream,
  jetstreamManager,
  type Consumer,
  type ConsumerMessages,
  type JetStreamManager,
  type JsMsg,
} from '@nats-io/jetstream';
import { connect as natsConnect, headers, nanos } from '@nats-io/transport-node';
import {
  PushedDeliveries,
  pushAhead,
  type Broker,
  type BrokerConnection,
  type Delivery,
  type ReceiveWindow,
} from './broker.js';

export interface JetStreamBrokerOptions {
  url: string;
  /** The stream name. */
  stream: string;
  /** The durable consumer's name. */
  durable: string;
  /** Used for the consumer's `max_deliver` when oncely declares it (one more: the runner decides first). */
  maxDeliveries: number;
  /** How long a delivery may stay unacknowledged before the server delivers it again. @defaultValue 30 000 */
  ackWaitMs?: number;
}

export const jetStreamDefaults = { ackWaitMs: 30_000 } as const;

export const deadLetterSubject = (stream: string) => `dead.${stream}`;
export const deadLetterStreamName = (stream: string) => `${stream}_dead`;

/** Header names of a dead letter. */
export const deadLetterHeaders = {
  reason: 'Oncely-Reason',
  message: 'Oncely-Message',
  subject: 'Oncely-Subject',
  streamSequence: 'Oncely-Stream-Sequence',
  deliveryCount: 'Oncely-Delivery-Count',
} as const;

// JetStream API error codes (nats-server's errors.json).
const streamNotFound = 10059;
const consumerNotFound = 10014;

interface JetStreamDelivery extends Delivery {
  readonly message: JsMsg;
}

async function absent(lookup: Promise<unknown>, code: number): Promise<boolean> {
  try {
    await lookup;
    return false;
  } catch (err) {
    if (err instanceof JetStreamApiError && err.code === code) return true;
    throw err;
  }
}

export function createJetStreamBroker(options: JetStreamBrokerOptions): Broker {
  const { stream, durable } = options;
  const ackWaitMs = options.ackWaitMs ?? jetStreamDefaults.ackWaitMs;

  /** Streams and the durable consumer are created when absent; existing ones keep their owner's settings. */
  async function declare(jsm: JetStreamManager, prefetch: number): Promise<void> {
    if (await absent(jsm.streams.info(stream), streamNotFound)) {
      await jsm.streams.add({ name: stream, subjects: [`${stream}.>`] });
    }
    const dead = deadLetterStreamName(stream);
    if (await absent(jsm.streams.info(dead), streamNotFound)) {
      await jsm.streams.add({ name: dead, subjects: [deadLetterSubject(stream)] });
    }
    if (await absent(jsm.consumers.info(stream, durable), consumerNotFound)) {
      await jsm.consumers.add(stream, {
        durable_name: durable,
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.All,
        ack_wait: nanos(ackWaitMs),
        // One delivery beyond the runner's limit: a message that killed its consumer on the last try is
        // still delivered once more, and then dead-lettered with a reason instead of silently dropped.
        max_deliver: options.maxDeliveries + 1,
        // Deliveries held by a consumer that died stay pending until their ack wait ends. Room for several
        // prefetch windows lets a restarted consumer go on at once instead of stalling behind them (the
        // server's default, 1,000, would not even hold two batches).
        max_ack_pending: Math.max(16_384, 8 * prefetch),
      });
    }
  }

  async function connect(window: ReceiveWindow): Promise<BrokerConnection> {
    // Messages the client pulls ahead of processing: the batches in hand and the next one.
    const prefetch = pushAhead(window);
    // The runner owns reconnecting (with backoff and a visible state).
    const nc = await natsConnect({ servers: options.url.replace(/^nats:\/\//, ''), reconnect: false });
    let messages: ConsumerMessages;
    let consumer: Consumer;
    const js = jetstream(nc);
    try {
      await declare(await jetstreamManager(nc), prefetch);
      consumer = await js.consumers.get(stream, durable);
      messages = await consumer.consume({ max_messages: prefetch });
    } catch (err) {
      await nc.close().catch(() => undefined);
      throw err;
    }

    let lostWith: Error | undefined;
    let onLost!: (err: Error) => void;
    const lost = new Promise<Error>((resolve) => (onLost = resolve));
    const pushed = new PushedDeliveries<JetStreamDelivery>();
    const loseWith = (err: Error) => {
      if (lostWith) return;
      lostWith = err;
      onLost(err);
      pushed.wake();
    };
    void nc.closed().then((err) => loseWith(err ?? new Error('connection to NATS closed')));

    void (async () => {
      for await (const message of messages) {
        pushed.push({
          id: String(message.seq),
          payload: message.string(),
          deliveryCount: message.info.deliveryCount,
          message,
        });
      }
      loseWith(new Error('the JetStream consumer stopped'));
    })().catch((err: Error) => loseWith(err));

    return {
      lost,
      async receive(max, signal) {
        const batch = await pushed.take(max, signal, () => lostWith !== undefined);
        if (lostWith) throw lostWith;
        return batch;
      },
      async ack(deliveries) {
        if (lostWith) throw lostWith;
        for (const d of deliveries) (d as JetStreamDelivery).message.ack();
      },
      async retry(deliveries, delayMs) {
        if (lostWith) return;
        for (const d of deliveries) (d as JetStreamDelivery).message.nak(delayMs);
      },
      async deadLetter(letters) {
        if (lostWith) throw lostWith;
        // Each publish resolves with the dead-letter stream's ack: stored before the original is let go.
        await Promise.all(
          letters.map(({ delivery, reason, message }) => {
            const original = (delivery as JetStreamDelivery).message;
            const h = headers();
            for (const [key, values] of original.headers ?? []) for (const v of values) h.append(key, v);
            h.set(deadLetterHeaders.reason, reason);
            h.set(deadLetterHeaders.message, message.replace(/[\r\n]+/g, ' '));
            h.set(deadLetterHeaders.subject, original.subject);
            h.set(deadLetterHeaders.streamSequence, String(original.seq));
            h.set(deadLetterHeaders.deliveryCount, String(delivery.deliveryCount));
            return js.publish(deadLetterSubject(stream), original.data, { headers: h });
          }),
        );
        for (const { delivery } of letters) (delivery as JetStreamDelivery).message.ack();
      },
      async lag() {
        if (lostWith) return undefined;
        return (await consumer.info()).num_pending;
      },
      async close() {
        loseWith(new Error('closed'));
        await messages.close().catch(() => undefined);
        await nc.close().catch(() => undefined);
      },
    };
  }

  return { kind: 'jetstream', connect };
}
