// How one page of a user's stream is read from her conversations' streams and merged in position order. Pure
// logic; the reader runs the statements.
//
// Why this shape: a user's stream is the union of her conversations' streams. Each is read by seq, through the
// (app_id, conversation_id, seq) index that history reads use too (within a conversation seq and position grow
// together, so a position bound is first turned into a seq bound), in ranges of seqs; a read therefore costs
// what it returns, however large the app's history is. The index orders each stream by seq, not by position,
// so the streams are merged here: an event is handed out once every stream has been read past its position.
// The ranges are chosen so that one read brings about the events the page needs, spread over the streams by
// how densely each one's unread events lie (the events of a page do not wait in the store for a sort).

/** One conversation's part of the page: positions `after < pos <= to` (a membership period, up to the head). */
export interface MergeStream {
  conversationId: string;
  after: number;
  to: number;
}

/** The same as seqs: its events are those with `first <= seq <= last` (none when last < first). */
export interface SeqStream extends MergeStream {
  first: number;
  last: number;
}

/** A range of seqs of one stream to read: every event with `from <= seq <= to`. */
export interface SeqRead {
  stream: number;
  conversationId: string;
  from: number;
  to: number;
}

/** The streams still open after position `after`, each starting no earlier than it. */
export function streamsAfter(streams: readonly MergeStream[], after: number): MergeStream[] {
  const open: MergeStream[] = [];
  for (const s of streams) {
    const from = Math.max(s.after, after);
    if (s.to > from) open.push({ conversationId: s.conversationId, after: from, to: s.to });
  }
  return open;
}

export interface MergedPage<T> {
  items: T[];
  /** Every event of the user with a position up to here is in this page or an earlier one. */
  through: number;
  /** Whether events may follow `through`. */
  more: boolean;
}

/** Where a stream's reading stands. */
interface Cursor {
  conversationId: string;
  /** The first seq not read yet. */
  next: number;
  last: number;
  /** Every event of the stream with a position up to here has been read. */
  horizon: number;
  to: number;
}

/**
 * The merge of a page's streams, read in ranges of seqs: `reads` says what to read next, `add` takes what was
 * read, `take` hands out the events that are complete (no unread event of any stream lies before them).
 */
export class StreamMerge<T extends { pos: number }> {
  private readonly cursors: Cursor[];
  /** Read and not yet handed out, in no particular order until `take` sorts it. */
  private pool: T[] = [];

  constructor(
    streams: readonly SeqStream[],
    /** The head the streams end at: when every stream is read, the page is complete up to it. */
    private readonly head: number,
  ) {
    this.cursors = streams.map((s) => ({
      conversationId: s.conversationId,
      next: s.first,
      last: s.last,
      horizon: s.after,
      to: s.to,
    }));
  }

  /** Whether some stream has events not read yet. */
  get unfinished(): boolean {
    return this.cursors.some((c) => c.next <= c.last);
  }

  /** How far every stream has been read: the page is complete up to here. */
  private bound(): number {
    let bound = Number.POSITIVE_INFINITY;
    for (const c of this.cursors) if (c.next <= c.last && c.horizon < bound) bound = c.horizon;
    return bound === Number.POSITIVE_INFINITY ? this.head : bound;
  }

  /** Events read and complete, waiting to be taken. */
  ready(): number {
    const bound = this.bound();
    let n = 0;
    for (const item of this.pool) if (item.pos <= bound) n++;
    return n;
  }

  /**
   * Ranges to read next, about `budget` events in all. Each unread stream is taken as spreading its unread
   * events evenly over its positions still unread; the ranges reach the same position `target` in every
   * stream, the least one at which they hold `budget` events. The stream read least far always gets at least
   * one event, so every read moves the page on.
   */
  reads(budget: number): SeqRead[] {
    const open = this.cursors.flatMap((c, stream) => (c.next <= c.last ? [{ c, stream }] : []));
    if (open.length === 0) return [];
    const density = open.map(({ c }) => (c.last - c.next + 1) / Math.max(1, c.to - c.horizon));
    const upTo = (target: number, i: number) => {
      const { c } = open[i]!;
      return Math.min(c.last - c.next + 1, Math.ceil(density[i]! * Math.max(0, target - c.horizon)));
    };
    const total = (target: number) => open.reduce((n, _, i) => n + upTo(target, i), 0);
    // The least target (a position) whose ranges hold `budget` events, by bisection: total() grows with it.
    let low = this.bound();
    let high = Math.max(...open.map(({ c }) => c.to));
    while (high - low > 1) {
      const mid = Math.floor((low + high) / 2);
      if (total(mid) >= budget) high = mid;
      else low = mid;
    }
    return open.flatMap(({ c, stream }, i) => {
      const n = upTo(high, i);
      return n > 0 ? [{ stream, conversationId: c.conversationId, from: c.next, to: c.next + n - 1 }] : [];
    });
  }

  /** What a read of `read` found: its events (each seq in its range once; any order). */
  add(read: SeqRead, items: T[]): void {
    const c = this.cursors[read.stream]!;
    c.next = read.to + 1;
    for (const item of items) {
      if (item.pos > c.horizon) c.horizon = item.pos;
      this.pool.push(item);
    }
  }

  /** The first `limit` complete events in position order, taken out of the merge. */
  take(limit: number): MergedPage<T> {
    const bound = this.bound();
    this.pool.sort((a, b) => a.pos - b.pos);
    let complete = 0;
    while (complete < this.pool.length && this.pool[complete]!.pos <= bound) complete++;
    const items = this.pool.splice(0, Math.min(limit, complete));
    if (items.length < complete) return { items, through: items.at(-1)!.pos, more: true };
    return { items, through: bound, more: this.pool.length > 0 || this.unfinished };
  }
}
