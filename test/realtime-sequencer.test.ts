// Unit tests of the sequencer's ordering logic, with an in-memory bus and a stand-in for the store's reads.
import { describe, expect, it } from 'vitest';
import type { WireEvent } from '../src/conversations/events.js';
import type { BusListener } from '../src/realtime/bus.js';
import { createMemoryBus } from '../src/realtime/memory-bus.js';
import { Sequencer } from '../src/realtime/sequencer.js';
import type { StreamEvent, StreamReader } from '../src/realtime/stream-reader.js';
import { createLogger } from '../src/observability/logger.js';
import { waitFor } from './harness.js';

const event = (pos: number): StreamEvent => ({
  appId: 'a',
  pos,
  event: { id: `e${pos}`, conversationId: 'c', seq: pos } as WireEvent,
});

/** The store as the sequencer reads it: the committed events. */
function storeOf(committed: StreamEvent[]): StreamReader {
  return {
    head: async () => Math.max(0, ...committed.map((e) => e.pos)),
    range: async (after: number, to: number, limit: number) =>
      committed.filter((e) => e.pos > after && e.pos <= to).slice(0, limit),
  } as unknown as StreamReader;
}

async function sequencer(
  committed: StreamEvent[],
  options: { headCheckMs?: number; fillPageSize?: number } = {},
) {
  const bus = createMemoryBus();
  const released: number[] = [];
  const seq = new Sequencer({
    bus,
    reader: storeOf(committed),
    logger: createLogger('silent'),
    onEvent: (e) => released.push(e.pos),
    onReceipt: () => undefined,
    gapFillDelayMs: 5,
    ...options,
  });
  await seq.start();
  const publish = (e: StreamEvent) =>
    bus.publish({ kind: 'event', appId: e.appId, event: e.event, pos: e.pos });
  return { seq, released, publish, committed };
}

describe('Sequencer', () => {
  it('releases events published out of order in position order, each once', async () => {
    const s = await sequencer([]);
    for (const pos of [2, 3, 1, 3, 5, 4, 1]) {
      s.committed.push(event(pos));
      await s.publish(event(pos));
    }
    expect(s.released).toEqual([1, 2, 3, 4, 5]);
    s.seq.close();
  });

  it('reads a position whose bus message never comes from the store', async () => {
    const s = await sequencer([]);
    s.committed.push(event(1), event(2), event(3));
    await s.publish(event(1));
    await s.publish(event(3)); // 2 is lost on the bus
    await waitFor(() => s.released.length === 3);
    expect(s.released).toEqual([1, 2, 3]);
    await s.publish(event(2)); // late: dropped
    expect(s.released).toEqual([1, 2, 3]);
    s.seq.close();
  });

  it('fills a gap longer than one read page by page, each position once, in order', async () => {
    const s = await sequencer([], { fillPageSize: 4 });
    for (let p = 1; p <= 23; p++) s.committed.push(event(p));
    await s.publish(event(23)); // 1…22 lost on the bus
    await waitFor(() => s.released.length === 23);
    expect(s.released).toEqual(Array.from({ length: 23 }, (_, i) => i + 1));
    s.seq.close();
  });

  it('starts at the head: older events are history, not live', async () => {
    const s = await sequencer([event(1), event(2)]);
    await s.publish(event(2));
    s.committed.push(event(3));
    await s.publish(event(3));
    expect(s.released).toEqual([3]);
    s.seq.close();
  });

  it('notices a lost last message on a quiet stream by the head moving on', async () => {
    const s = await sequencer([], { headCheckMs: 10 });
    s.committed.push(event(1));
    await waitFor(() => s.released.length === 1);
    expect(s.released).toEqual([1]);
    s.seq.close();
  });
});

describe('Sequencer after a bus outage', () => {
  it('reads up to the head as soon as the bus says messages were lost, without waiting for its head check', async () => {
    const committed: StreamEvent[] = [];
    let listener: BusListener | undefined;
    const bus = {
      ...createMemoryBus(),
      subscribe: async (l: BusListener) => ((listener = l), () => undefined),
    };
    const released: number[] = [];
    const seq = new Sequencer({
      bus,
      reader: storeOf(committed),
      logger: createLogger('silent'),
      onEvent: (e) => released.push(e.pos),
      onReceipt: () => undefined,
      headCheckMs: 3_600_000,
    });
    await seq.start();
    // Committed on other instances while the bus was away: no message, no later event shows the gap.
    committed.push(event(1), event(2), event(3));
    listener!.lost();
    await waitFor(() => released.length === 3, 2_000);
    expect(released).toEqual([1, 2, 3]);
    seq.close();
  });
});
