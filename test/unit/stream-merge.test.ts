// The pages of a user's stream merged from her conversations' streams read in ranges of seqs, against a plain
// sort of the same events: each read is answered as the store would (the events of a range of seqs), and the
// reads a page costs are counted.
import { describe, expect, it } from 'vitest';
import {
  StreamMerge,
  streamsAfter,
  type MergeStream,
  type SeqStream,
} from '../../src/realtime/stream-merge.js';

/** Positions by conversation; an event's seq is its index + 1. */
type Positions = Record<string, number[]>;

/** The streams as the store's seq search gives them: the seqs of each stream's positions. */
function asSeqs(positions: Positions, streams: MergeStream[]): SeqStream[] {
  return streams.flatMap((s) => {
    const all = positions[s.conversationId]!;
    const first = all.findIndex((p) => p > s.after) + 1 || all.length + 1;
    const past = all.findIndex((p) => p > s.to) + 1 || all.length + 1;
    return past > first ? [{ ...s, first, last: past - 1 }] : [];
  });
}

/** One page after `after`, as the reader reads it: turns of `want` events, each reading at most `budget`. */
function page(
  positions: Positions,
  streams: MergeStream[],
  after: number,
  limit: number,
  head: number,
  budget: number,
) {
  const merge = new StreamMerge<{ pos: number }>(asSeqs(positions, streamsAfter(streams, after)), head);
  const items: number[] = [];
  let read = 0;
  let rounds = 0;
  for (;;) {
    const want = Math.min(budget, limit - items.length);
    for (let turnRead = 0; turnRead < budget && merge.unfinished && merge.ready() < want;) {
      const reads = merge.reads(Math.min(want - merge.ready(), budget - turnRead));
      rounds++;
      for (const r of reads) {
        const rows = positions[r.conversationId]!.slice(r.from - 1, r.to).map((pos) => ({ pos }));
        merge.add(r, rows);
        turnRead += rows.length;
        read += rows.length;
      }
    }
    const found = merge.take(want);
    items.push(...found.items.map((i) => i.pos));
    if (!found.more || items.length >= limit)
      return { items, through: found.through, more: found.more, read, rounds };
  }
}

/** Pages the whole stream from 0, as a client does with the returned `through`. */
function pageAll(positions: Positions, limit: number, head: number, budget: number) {
  const streams = Object.keys(positions).map((conversationId) => ({ conversationId, after: 0, to: head }));
  const pages: Array<ReturnType<typeof page>> = [];
  for (let after = 0; ;) {
    const p = page(positions, streams, after, limit, head, budget);
    pages.push(p);
    after = p.through;
    if (!p.more) return pages;
  }
}

/** A deterministic stream of `n` positions dealt to `k` conversations with skewed weights. */
function deal(n: number, k: number, seed: number): Positions {
  const out: Positions = {};
  for (let c = 0; c < k; c++) out[`c${c}`] = [];
  let s = seed;
  for (let pos = 1; pos <= n; pos++) {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    const c = Math.floor((s / 2 ** 31) ** 3 * k);
    out[`c${c}`]!.push(pos);
  }
  return out;
}

describe('pages of a stream merged from ranges of seqs', () => {
  it.each([
    { n: 5000, k: 1, limit: 500, budget: 500 },
    { n: 5000, k: 50, limit: 500, budget: 500 },
    { n: 5000, k: 50, limit: 2000, budget: 250 },
    { n: 3000, k: 300, limit: 100, budget: 100 },
    { n: 999, k: 7, limit: 1000, budget: 1000 },
    { n: 1000, k: 7, limit: 1000, budget: 7 },
    { n: 40, k: 5, limit: 3, budget: 3 },
  ])(
    'pages of $limit over $k conversations (turns of $budget) give every one of $n events once, in order',
    ({ n, k, limit, budget }) => {
      const positions = deal(n, k, n + k);
      const pages = pageAll(positions, limit, n, budget);
      const all = pages.flatMap((p) => p.items);
      expect(all).toEqual(Array.from({ length: n }, (_, i) => i + 1));
      // Every page but the last is full; the last one says it is the end.
      for (const p of pages.slice(0, -1)) expect(p.items).toHaveLength(limit);
      expect(pages.at(-1)!.more).toBe(false);
      expect(pages.at(-1)!.through).toBe(n);
      // What a page reads and leaves unsent is at most one round's worth per conversation beyond its own.
      for (const p of pages) expect(p.read).toBeLessThanOrEqual(p.items.length + limit + k);
    },
  );

  it('reads a page of evenly interleaved conversations in about one round a turn, reading little more', () => {
    // 10,000 events dealt round-robin-like to 50 conversations, read in pages of 2,000, turns of 250.
    const positions: Positions = {};
    for (let pos = 1; pos <= 10_000; pos++) (positions[`c${(pos * 37) % 50}`] ??= []).push(pos);
    const pages = pageAll(positions, 2000, 10_000, 250);
    const read = pages.reduce((n, p) => n + p.read, 0);
    const rounds = pages.reduce((n, p) => n + p.rounds, 0);
    expect(read).toBeLessThan(10_000 * 1.2);
    expect(rounds).toBeLessThan((10_000 / 250) * 2);
  });

  it("keeps each conversation to its span: a membership's start and end", () => {
    const positions = { a: [1, 3, 5, 7, 9], b: [2, 4, 6, 8, 10] };
    const streams = [
      { conversationId: 'a', after: 0, to: 5 },
      { conversationId: 'b', after: 3, to: 10 },
    ];
    for (const budget of [1, 2, 100]) {
      const p = page(positions, streams, 0, 100, 10, budget);
      expect(p.items).toEqual([1, 3, 4, 5, 6, 8, 10]);
      expect(p).toMatchObject({ through: 10, more: false });
    }
  });

  it('a page starts each stream at the cursor or its own start, whichever is later, and drops ended ones', () => {
    const streams = [
      { conversationId: 'a', after: 0, to: 5 },
      { conversationId: 'b', after: 7, to: 10 },
    ];
    expect(streamsAfter(streams, 4)).toEqual([
      { conversationId: 'a', after: 4, to: 5 },
      { conversationId: 'b', after: 7, to: 10 },
    ]);
    expect(streamsAfter(streams, 5)).toEqual([{ conversationId: 'b', after: 7, to: 10 }]);
  });

  it('hands out only events no unread event lies before, and says how far the page is complete', () => {
    const merge = new StreamMerge<{ pos: number }>(
      [
        { conversationId: 'a', after: 0, to: 20, first: 1, last: 3 },
        { conversationId: 'b', after: 0, to: 20, first: 1, last: 3 },
      ],
      20,
    );
    // Stream a was read to its end (2, 4, 6); b only its first (1): b's next may lie anywhere past 1.
    merge.add({ stream: 0, conversationId: 'a', from: 1, to: 3 }, [{ pos: 2 }, { pos: 4 }, { pos: 6 }]);
    merge.add({ stream: 1, conversationId: 'b', from: 1, to: 1 }, [{ pos: 1 }]);
    expect(merge.take(10)).toEqual({ items: [{ pos: 1 }], through: 1, more: true });
    expect(merge.reads(5)).toEqual([{ stream: 1, conversationId: 'b', from: 2, to: 3 }]);
    merge.add({ stream: 1, conversationId: 'b', from: 2, to: 3 }, [{ pos: 7 }, { pos: 9 }]);
    expect(merge.take(2)).toEqual({ items: [{ pos: 2 }, { pos: 4 }], through: 4, more: true });
    expect(merge.take(10)).toEqual({ items: [{ pos: 6 }, { pos: 7 }, { pos: 9 }], through: 20, more: false });
  });

  it('an empty stream is complete up to the head', () => {
    expect(new StreamMerge([], 42).take(10)).toEqual({ items: [], through: 42, more: false });
  });
});
