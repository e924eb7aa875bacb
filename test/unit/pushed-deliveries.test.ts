// How a push adapter (RabbitMQ, JetStream) hands out batches: the first delivery wakes it, and the batch is
// filled while deliveries keep coming, up to its size or until the broker's window is full.
import { describe, expect, it } from 'vitest';
import { PushedDeliveries, fillWaitMs, type Delivery } from '../../src/consumers/broker.js';

const delivery = (n: number): Delivery => ({ id: String(n), payload: `"${n}"`, deliveryCount: 1 });
const never = new AbortController().signal;
const running = () => false;

/** Pushes `count` deliveries, one every `everyMs`, from `from` on. */
function trickle(pushed: PushedDeliveries<Delivery>, from: number, count: number, everyMs: number) {
  let n = from;
  const timer = setInterval(() => {
    pushed.push(delivery(n++));
    if (n === from + count) clearInterval(timer);
  }, everyMs);
}

describe('pushed deliveries', () => {
  it('fills a batch while deliveries keep arriving, then hands it out whole', async () => {
    const pushed = new PushedDeliveries<Delivery>();
    // Arrivals closer together than the fill wait: one batch of all ten, not one per arrival.
    trickle(pushed, 0, 10, Math.max(1, fillWaitMs / 4));
    const batch = await pushed.take(10, never, running);
    expect(batch.map((d) => d.id)).toEqual(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
  });

  it('never hands out more than asked; the rest waits for the next take', async () => {
    const pushed = new PushedDeliveries<Delivery>();
    for (let n = 0; n < 5; n++) pushed.push(delivery(n));
    expect((await pushed.take(3, never, running)).map((d) => d.id)).toEqual(['0', '1', '2']);
    expect((await pushed.take(3, never, running)).map((d) => d.id)).toEqual(['3', '4']);
  });

  it('hands out what it has once arrivals pause', async () => {
    const pushed = new PushedDeliveries<Delivery>();
    pushed.push(delivery(0));
    pushed.push(delivery(1));
    const batch = await pushed.take(1000, never, running);
    expect(batch.map((d) => d.id)).toEqual(['0', '1']);
  });

  it('does not wait for more while the broker window is full', async () => {
    let full = false;
    const pushed = new PushedDeliveries<Delivery>(() => full);
    pushed.push(delivery(0));
    full = true;
    // Answered at once: before the event loop's next turn, which any fill wait would have to outlast.
    const nextTurn = new Promise((resolve) => setImmediate(() => resolve('waited')));
    const batch = await Promise.race([pushed.take(1000, never, running), nextTurn]);
    expect(batch).toEqual([delivery(0)]);
  });

  it('gives none when the signal aborts before anything arrived, and wakes when stopped', async () => {
    const pushed = new PushedDeliveries<Delivery>();
    const stop = new AbortController();
    const taking = pushed.take(10, stop.signal, running);
    stop.abort();
    expect(await taking).toEqual([]);

    let lost = false;
    const waiting = pushed.take(10, never, () => lost);
    lost = true;
    pushed.wake();
    expect(await waiting).toEqual([]);
  });
});
