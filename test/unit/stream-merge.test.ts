// The pages of a user's stream made from the answers of several statements, against a plain sort of the same
// events: each statement is answered as the store would (its streams' first `limit` events by position).
import { describe, expect, it } from 'vitest';
import { combine, streamsAfter, type MergeStream } from '../../src/realtime/stream-merge.js';

/** One page after `after`: the streams split into statements of `perStatement`, each answered, combined. */
function page(
  positions: Record<string, number[]>,
  streams: MergeStream[],
  after: number,
  limit: number,
  head: number,
  perStatement: number,
) {
  const open = streamsAfter(streams, after);
  const answers: Array<Array<{ pos: number }>> = [];
  for (let i = 0; i < open.length; i += perStatement) {
    answers.push(
      open
        .slice(i, i + perStatement)
        .flatMap((s) => positions[s.conversationId]!.filter((p) => p > s.after && p <= s.to))
        .sort((a, b) => a - b)
        .slice(0, limit)
        .map((pos) => ({ pos })),
    );
  }
  return answers.length === 0 ? { items: [], through: head, more: false } : combine(answers, limit, head);
}

/** Pages the whole stream from `after`, as a client does with the returned `through`. */
function pageAll(positions: Record<string, number[]>, limit: number, head: number, perStatement: number) {
  const streams = Object.keys(positions).map((conversationId) => ({ conversationId, after: 0, to: head }));
  const pages: Array<ReturnType<typeof page>> = [];
  for (let after = 0; ;) {
    const p = page(positions, streams, after, limit, head, perStatement);
    pages.push(p);
    after = p.through;
    if (!p.more) return pages;
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

describe('pages of a stream from several statements', () => {
  it.each([
    { n: 5000, k: 1, limit: 500, perStatement: 100 },
    { n: 5000, k: 50, limit: 500, perStatement: 100 },
    { n: 5000, k: 50, limit: 500, perStatement: 7 },
    { n: 3000, k: 300, limit: 100, perStatement: 100 },
    { n: 999, k: 7, limit: 1000, perStatement: 3 },
    { n: 1000, k: 7, limit: 1000, perStatement: 3 },
    { n: 40, k: 5, limit: 3, perStatement: 2 },
  ])(
    'pages of $limit over $k conversations ($perStatement a statement) give every one of $n events once, in order',
    ({ n, k, limit, perStatement }) => {
      const positions = deal(n, k, n + k);
      const pages = pageAll(positions, limit, n, perStatement);
      const all = pages.flatMap((p) => p.items.map((i) => i.pos));
      expect(all).toEqual(Array.from({ length: n }, (_, i) => i + 1));
      // Every page but the last is full; the last one says it is the end.
      for (const p of pages.slice(0, -1)) expect(p.items).toHaveLength(limit);
      expect(pages.at(-1)!.more).toBe(false);
      expect(pages.at(-1)!.through).toBe(n);
    },
  );

  it("keeps each conversation to its span: a membership's start and end", () => {
    const positions = { a: [1, 3, 5, 7, 9], b: [2, 4, 6, 8, 10] };
    const streams = [
      { conversationId: 'a', after: 0, to: 5 },
      { conversationId: 'b', after: 3, to: 10 },
    ];
    for (const perStatement of [1, 2]) {
      const p = page(positions, streams, 0, 100, 10, perStatement);
      expect(p.items.map((i) => i.pos)).toEqual([1, 3, 4, 5, 6, 8, 10]);
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

  it('a page cut where the fullest statement stopped is complete up to there', () => {
    // The first statement stopped at 6 (it may have more after); the second's 7 and 9 wait for the next page.
    const p = combine(
      [
        [{ pos: 2 }, { pos: 4 }, { pos: 6 }],
        [{ pos: 1 }, { pos: 7 }, { pos: 9 }],
      ],
      3,
      20,
    );
    expect(p).toEqual({ items: [{ pos: 1 }, { pos: 2 }, { pos: 4 }], through: 4, more: true });
  });

  it('an empty stream is complete up to the head', () => {
    expect(combine([[]], 10, 42)).toMatchObject({ items: [], through: 42, more: false });
  });
});
