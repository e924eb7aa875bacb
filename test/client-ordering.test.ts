// Unit tests of the client library's pure logic: in-order release, dedup, gaps, backoff.
import { describe, expect, it } from 'vitest';
import { backoffDelay } from '../client/backoff.js';
import { ConversationOrder } from '../client/ordering.js';
import type { WireEvent } from '../client/protocol.js';

const ev = (conversationId: string, seq: number, id = `${conversationId}-${seq}`): WireEvent => ({
  id,
  type: 'message.created',
  conversationId,
  seq,
  senderId: 'u',
  body: { type: 'text', text: String(seq) },
  createdAt: new Date(0).toISOString(),
});

describe('ConversationOrder', () => {
  it('releases events in seq order and reports the gap before a jump', () => {
    const order = new ConversationOrder({ c: 1 });
    expect(order.offer(ev('c', 2)).ready.map((e) => e.seq)).toEqual([2]);
    const jumped = order.offer(ev('c', 5));
    expect(jumped.ready).toEqual([]);
    expect(jumped.gap).toEqual({ conversationId: 'c', afterSeq: 2, beforeSeq: 5 });
    expect(order.hasHeld()).toBe(true);
    expect(order.offer(ev('c', 4)).ready).toEqual([]);
    expect(order.offer(ev('c', 3)).ready.map((e) => e.seq)).toEqual([3, 4, 5]);
    expect(order.hasHeld()).toBe(false);
    expect(order.snapshot()).toEqual({ c: 5 });
  });

  it('drops repeats by id and by an already applied seq', () => {
    const order = new ConversationOrder();
    expect(order.offer(ev('c', 7)).ready).toHaveLength(1);
    expect(order.offer(ev('c', 7)).ready).toHaveLength(0);
    expect(order.offer(ev('c', 6, 'other')).ready).toHaveLength(0);
    expect(order.offer(ev('d', 1)).ready).toHaveLength(1);
  });

  it('starts an unknown conversation at its first event', () => {
    const order = new ConversationOrder();
    expect(order.offer(ev('new', 40)).ready.map((e) => e.seq)).toEqual([40]);
    expect(order.offer(ev('new', 41)).ready.map((e) => e.seq)).toEqual([41]);
  });
});

describe('backoffDelay', () => {
  it('grows exponentially up to the cap, keeping the non-random share', () => {
    const opts = { initialMs: 100, maxMs: 1000, factor: 2, jitter: 0.5 };
    expect(backoffDelay(0, opts, () => 0)).toBe(50);
    expect(backoffDelay(0, opts, () => 0.999)).toBe(100);
    expect(backoffDelay(3, opts, () => 0)).toBe(400);
    expect(backoffDelay(10, opts, () => 0.999)).toBe(1000);
    expect(backoffDelay(10, opts, () => 0)).toBe(500);
  });
});
