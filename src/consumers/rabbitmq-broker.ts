// RabbitMQ behind the Broker contract (amqplib): a durable quorum queue consumed with manual acks and a
// prefetch window; dead letters go through the fanout exchange `{source}.dlx` to the queue `{source}.dead`.
import amqp, { type ConfirmChannel, type ChannelModel, type ConsumeMessage } from 'amqplib';
import {
  PushedDeliveries,
  pushAhead,
  type Broker,
  type BrokerConnection,
  type Delivery,
  type ReceiveWindow,
} from './broker.js';

export interface RabbitMqBrokerOptions {
  url: string;
  /** The queue. */
  queue: string;
  /** Used as the queue's `x-delivery-limit` when oncely declares it: the broker's own backstop. */
  maxDeliveries: number;
}

export const deadLetterExchange = (queue: string) => `${queue}.dlx`;
export const deadLetterQueue = (queue: string) => `${queue}.dead`;

/** Header names of a dead letter oncely wrote (a broker-made one carries `x-death` instead). */
export const deadLetterHeaders = {
  reason: 'x-oncely-reason',
  message: 'x-oncely-message',
  deliveryCount: 'x-oncely-delivery-count',
} as const;

interface RabbitDelivery extends Delivery {
  readonly message: ConsumeMessage;
}

export function createRabbitMqBroker(options: RabbitMqBrokerOptions): Broker {
  const { queue } = options;

  /** Declares the queue only when absent: an existing queue keeps the arguments its owner gave it. */
  async function declare(model: ChannelModel): Promise<void> {
    const probe = await model.createChannel();
    probe.on('error', () => undefined);
    let exists = true;
    try {
      await probe.checkQueue(queue);
      await probe.close();
    } catch {
      // A 404 closes the channel it was asked on.
      exists = false;
    }
    const ch = await model.createChannel();
    await ch.assertExchange(deadLetterExchange(queue), 'fanout', { durable: true });
    await ch.assertQueue(deadLetterQueue(queue), { durable: true });
    await ch.bindQueue(deadLetterQueue(queue), deadLetterExchange(queue), '');
    if (!exists) {
      // A quorum queue counts deliveries (`x-delivery-count`) and dead-letters past its limit by itself,
      // which covers a message that kills its consumer before it can be dead-lettered with a reason.
      await ch.assertQueue(queue, {
        durable: true,
        arguments: {
          'x-queue-type': 'quorum',
          'x-dead-letter-exchange': deadLetterExchange(queue),
          'x-delivery-limit': options.maxDeliveries,
        },
      });
    }
    await ch.close();
  }

  async function connect(window: ReceiveWindow): Promise<BrokerConnection> {
    // Unacknowledged deliveries the broker may push: the batches in hand and the next one.
    const prefetch = pushAhead(window);
    const model = await amqp.connect(options.url);
    let ch: ConfirmChannel;
    try {
      await declare(model);
      ch = await model.createConfirmChannel();
      await ch.prefetch(prefetch);
    } catch (err) {
      await model.close().catch(() => undefined);
      throw err;
    }

    let lostWith: Error | undefined;
    let onLost!: (err: Error) => void;
    const lost = new Promise<Error>((resolve) => (onLost = resolve));
    // Delivered and not yet settled, in delivery-tag order: acks use `multiple` over a settled prefix. The
    // broker pushes no more while it holds `prefetch` of them.
    const outstanding = new Map<number, ConsumeMessage>();
    const pushed = new PushedDeliveries<RabbitDelivery>(() => outstanding.size >= prefetch);
    const loseWith = (err: Error) => {
      if (lostWith) return;
      lostWith = err;
      onLost(err);
      pushed.wake();
    };
    model.on('error', (err: Error) => loseWith(err));
    model.on('close', (err?: Error) => loseWith(err ?? new Error('connection closed')));
    ch.on('error', (err: Error) => loseWith(err));
    ch.on('close', () => loseWith(new Error('channel closed')));

    const retryTimers = new Set<NodeJS.Timeout>();

    await ch.consume(queue, (message) => {
      if (!message) return loseWith(new Error(`the broker cancelled the consumer of ${queue}`));
      outstanding.set(message.fields.deliveryTag, message);
      const previous = Number(message.properties.headers?.['x-delivery-count'] ?? NaN);
      pushed.push({
        id: String(message.fields.deliveryTag),
        payload: message.content.toString('utf8'),
        // Classic queues count nothing: a redelivered flag is all there is.
        deliveryCount: Number.isFinite(previous) ? previous + 1 : message.fields.redelivered ? 2 : 1,
        message,
      });
    });

    function settle(deliveries: Delivery[]): ConsumeMessage[] {
      const out: ConsumeMessage[] = [];
      for (const d of deliveries) {
        const message = (d as RabbitDelivery).message;
        if (outstanding.delete(message.fields.deliveryTag)) out.push(message);
      }
      return out;
    }

    return {
      lost,
      async receive(max, signal) {
        const batch = await pushed.take(max, signal, () => lostWith !== undefined);
        if (lostWith) throw lostWith;
        return batch;
      },
      async ack(deliveries) {
        if (lostWith) throw lostWith;
        const acking = new Set(deliveries.map((d) => (d as RabbitDelivery).message.fields.deliveryTag));
        // The longest run of outstanding deliveries, oldest first, that are all being acked: one frame.
        let last: ConsumeMessage | undefined;
        let run = 0;
        for (const [tag, message] of outstanding) {
          if (!acking.has(tag)) break;
          last = message;
          run++;
        }
        if (last && run > 1) {
          for (const [tag] of outstanding) {
            outstanding.delete(tag);
            acking.delete(tag);
            if (tag === last.fields.deliveryTag) break;
          }
          ch.ack(last, true);
        }
        for (const message of settle(deliveries.filter((d) => acking.has(Number(d.id))))) ch.ack(message);
      },
      async retry(deliveries, delayMs) {
        // Held unacknowledged until the delay is over (the prefetch window bounds how many), then requeued;
        // the quorum queue counts the return as a delivery.
        const timer = setTimeout(() => {
          retryTimers.delete(timer);
          if (lostWith) return;
          for (const message of settle(deliveries)) ch.nack(message, false, true);
        }, delayMs);
        retryTimers.add(timer);
      },
      async deadLetter(letters) {
        if (lostWith) throw lostWith;
        for (const { delivery, reason, message } of letters) {
          const original = (delivery as RabbitDelivery).message;
          ch.publish(deadLetterExchange(queue), queue, original.content, {
            persistent: true,
            contentType: original.properties.contentType,
            messageId: original.properties.messageId,
            headers: {
              ...original.properties.headers,
              [deadLetterHeaders.reason]: reason,
              [deadLetterHeaders.message]: message,
              [deadLetterHeaders.deliveryCount]: delivery.deliveryCount,
            },
          });
        }
        // Publisher confirms: the dead letters are the broker's before the originals are let go.
        await ch.waitForConfirms();
        for (const message of settle(letters.map((l) => l.delivery))) ch.ack(message);
      },
      async lag() {
        if (lostWith) return undefined;
        return (await ch.checkQueue(queue)).messageCount;
      },
      async close() {
        for (const timer of retryTimers) clearTimeout(timer);
        retryTimers.clear();
        loseWith(new Error('closed'));
        await model.close().catch(() => undefined);
      },
    };
  }

  return { kind: 'rabbitmq', connect };
}
