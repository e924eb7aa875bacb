// The merge of a user's conversations into one page of her stream, against a plain sort of the same events.
import { describe, expect, it } from 'vitest';
import { StreamMerge, type MergeStream } from '../../src/realtime/stream-merge.js';

/** Conversations of events at given positions; the reads are answered from them as the store would. */
function run(positions: Record<string, number[]>, spans: MergeStream[], limit: number, head: number) {
  const merge = new StreamMerge<{ pos: number }>(spans, { limit, head });
  let rounds = 0;
  let read = 0;
  for (let reads = merge.nextReads(); reads.length > 0; reads = merge.nextReads()) {
    rounds++;
    for (const r of reads) {
      const rows = positions[r.conversationId]!.filter((p) => p > r.after && p <= r.to)
        .slice(0, r.limit)
        .map((pos) => ({ pos }));
      read += rows.length;
      merge.add(r, rows);
    }
  }
  return { ...merge.page(), rounds, read };
}

/** Pages the whole stream from `after`, as a client does with the returned `through`. */
function pageAll(positions: Record<string, number[]>, limit: number, head: number, after = 0) {
  const pages: Array<ReturnType<typeof run>> = [];
  for (;;) {
    const spans = Object.keys(positions).map((conversationId) => ({ conversationId, after, to: head }));
    const page = run(positions, spans, limit, head);
    pages.push(page);
    after = page.through;
    if (!page.more) return pages;
  }
}

/** A deterministic stream of `n` positions dealt to `k` conversations with skewed weights. */
function deal(n: number, k: number, seed: number): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  for (let c = 0; c < k; c++) out[`c${c}`] = [];
  let s = seed;
  for (let pos = 1; pos <= n; pos++) {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    const c = Math.floor((s / 2 ** 31) ** 3 * k);
    out[`c${c}`]!.push(pos);
  }
  return out;
}

describe('StreamMerge', () => {
  it.each([
    { n: 5000, k: 1, limit: 500 },
    { n: 5000, k: 50, limit: 500 },
    { n: 3000, k: 300, limit: 100 },
    { n: 999, k: 7, limit: 1000 },
    { n: 1000, k: 7, limit: 1000 },
    { n: 40, k: 5, limit: 3 },
  ])(
    'pages of $limit over $k conversations give every one of $n events once, in order',
    ({ n, k, limit }) => {
      const positions = deal(n, k, n + k);
      const pages = pageAll(positions, limit, n);
      const all = pages.flatMap((p) => p.items.map((i) => i.pos));
      expect(all).toEqual(Array.from({ length: n }, (_, i) => i + 1));
      // Every page but the last is full; the last one says it is the end.
      for (const p of pages.slice(0, -1)) expect(p.items).toHaveLength(limit);
      expect(pages.at(-1)!.more).toBe(false);
      expect(pages.at(-1)!.through).toBe(n);
    },
  );

  it('reads about twice a page, in a few rounds, however the events spread', () => {
    for (const k of [1, 5, 50, 500]) {
      const positions = deal(20_000, k, 7);
      const spans = Object.keys(positions).map((conversationId) => ({
        conversationId,
        after: 0,
        to: 20_000,
      }));
      const page = run(positions, spans, 500, 20_000);
      expect(page.items).toHaveLength(500);
      expect(page.read, `${k} conversations`).toBeLessThanOrEqual(2 * 500 + 4 * k);
      expect(page.rounds, `${k} conversations`).toBeLessThanOrEqual(8);
    }
  });

  it("keeps each conversation to its span: a membership's start and end", () => {
    const positions = { a: [1, 3, 5, 7, 9], b: [2, 4, 6, 8, 10] };
    const spans = [
      { conversationId: 'a', after: 0, to: 5 },
      { conversationId: 'b', after: 3, to: 10 },
    ];
    const page = run(positions, spans, 100, 10);
    expect(page.items.map((i) => i.pos)).toEqual([1, 3, 4, 5, 6, 8, 10]);
    expect(page).toMatchObject({ through: 10, more: false });
  });

  it('an empty stream is complete up to the head', () => {
    expect(run({}, [], 10, 42)).toMatchObject({ items: [], through: 42, more: false });
  });
});
