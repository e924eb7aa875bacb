// The plan of one page of a user's stream: her conversations are each read forward by position from the
// cursor, a few events at a time, and merged into position order. Pure logic; the reader runs the reads.
//
// Why this shape: a user's stream is the union of her conversations' streams, each already ordered by the
// (app_id, conversation_id, pos) index. Reading them in step and merging costs O(page + memberships × log n)
// however large the app's history is; one query that joins memberships to events and sorts would visit
// every later event of every conversation she is in, then sort them, for every page.

/**
 * One conversation's part of the page: positions `after < pos <= to` (a membership period, up to the head).
 * A member removed and re-added has one stream per period, told apart by `key`.
 */
export interface MergeStream {
  conversationId: string;
  /** Names the stream when a conversation has several (its periods); else the conversation id. */
  key?: string;
  after: number;
  to: number;
}

const keyOf = (s: MergeStream) => s.key ?? s.conversationId;
const streamOf = (s: MergeStream) =>
  s.key === undefined
    ? { conversationId: s.conversationId }
    : { conversationId: s.conversationId, key: s.key };

/** A read the merge asks for: the first `limit` events of a conversation after `after`, up to `to`. */
export interface StreamRead extends MergeStream {
  limit: number;
}

export interface MergeOptions {
  /** Events in the page. */
  limit: number;
  /** The head the streams were cut at: with every stream exhausted, the page is complete up to here. */
  head: number;
  /** Fewest events asked of one conversation per round. @defaultValue 4 */
  minChunk?: number;
}

export interface MergedPage<T> {
  items: T[];
  /** Every event of the user with a position up to here is in this page or an earlier one. */
  through: number;
  /** Whether events may follow `through` (the page was cut at `limit`). */
  more: boolean;
}

interface State<T> extends MergeStream {
  rows: T[];
  /** Every event of the stream up to here has been read. */
  known: number;
}

export class StreamMerge<T extends { pos: number }> {
  private readonly streams: Array<State<T>>;
  private readonly byKey: Map<string, State<T>>;
  private readonly minChunk: number;
  private readonly start: number;
  private rounds = 0;

  constructor(
    streams: MergeStream[],
    private readonly opts: MergeOptions,
  ) {
    this.minChunk = opts.minChunk ?? 4;
    this.streams = streams.filter((s) => s.to > s.after).map((s) => ({ ...s, rows: [], known: s.after }));
    this.byKey = new Map(this.streams.map((s) => [keyOf(s), s]));
    this.start = Math.min(...this.streams.map((s) => s.after));
  }

  /**
   * The reads of the next round, or none when the page is decided. The first round asks every
   * conversation for an equal share of the page (at least `minChunk` events); it shows how densely the user's
   * events lie among the positions. Later rounds read every conversation up to the position where the
   * rest of the page should end at that density (half as much again, for error), each at most what is
   * missing. So a page reads about one and a half pages of positions in two or three rounds, however its
   * events spread over the conversations.
   */
  nextReads(): StreamRead[] {
    const open = this.streams.filter((s) => s.known < s.to);
    if (open.length === 0) return [];
    const frontier = this.frontier(open);
    const have = this.countUpTo(frontier);
    const missing = this.opts.limit - have;
    if (missing <= 0) return [];
    if (this.rounds++ === 0) {
      const chunk = Math.min(this.opts.limit, Math.max(this.minChunk, Math.ceil(missing / open.length)));
      return open.map((s) => ({ ...streamOf(s), after: s.known, to: s.to, limit: chunk }));
    }
    // Positions per event of the user so far; `have` is at least one chunk, since the stream at the
    // frontier was not exhausted by the first round.
    const spacing = (frontier - this.start) / Math.max(1, have);
    const target = frontier + Math.max(1, Math.ceil(1.5 * missing * spacing));
    return open
      .filter((s) => s.known < target)
      .map((s) => ({
        ...streamOf(s),
        after: s.known,
        to: Math.min(s.to, target),
        limit: Math.max(this.minChunk, missing),
      }));
  }

  /** Takes the rows of a read, in position order; fewer than asked means the read reached its `to`. */
  add(read: StreamRead, rows: T[]): void {
    const s = this.byKey.get(keyOf(read));
    if (!s || read.after !== s.known) throw new Error(`unexpected read of stream ${keyOf(read)}`);
    s.rows.push(...rows);
    s.known = rows.length < read.limit ? read.to : rows.at(-1)!.pos;
  }

  /** The page, once `nextReads()` returns none. */
  page(): MergedPage<T> {
    const open = this.streams.filter((s) => s.known < s.to);
    const frontier = this.frontier(open);
    const known = this.streams
      .flatMap((s) => s.rows)
      .filter((r) => r.pos <= frontier)
      .sort((a, b) => a.pos - b.pos);
    if (known.length > this.opts.limit || (known.length === this.opts.limit && open.length > 0)) {
      const items = known.slice(0, this.opts.limit);
      return { items, through: items.at(-1)!.pos, more: true };
    }
    if (open.length > 0) throw new Error('the merge was asked for its page before it was decided');
    return { items: known, through: this.opts.head, more: false };
  }

  /** Every event up to here is known: the least position read through of any open stream. */
  private frontier(open: Array<State<T>>): number {
    return open.length === 0 ? Number.POSITIVE_INFINITY : Math.min(...open.map((s) => s.known));
  }

  private countUpTo(pos: number): number {
    let n = 0;
    for (const s of this.streams) for (const r of s.rows) if (r.pos <= pos) n++;
    return n;
  }
}
