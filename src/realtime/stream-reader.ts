// Reads of the event stream from the store: a page of a user's events after a position (resume, long-poll,
// SSE), a range of the global stream (the sequencer's gap fill), memberships (who sees what), and "now".
// Every read seeks an index by conversation and seq, or by position, and is bounded by its page, so its cost
// follows the reader's backlog, not the app's history (the plans are asserted in test/query-plans.test.ts).
import { preparedQuery } from '../store/prepared-query.js';
import { toWireEvent, type WireEvent } from '../conversations/events.js';
import type { Store } from '../store/store.js';
import type { CatchUpQueue } from './catch-up-queue.js';
import { StreamMerge, streamsAfter, type MergeStream, type SeqRead, type SeqStream } from './stream-merge.js';
import {
  bodyColumn,
  pageEvent,
  perCount,
  streamQueries,
  type PageRow,
  type SeqSearch,
} from './stream-queries.js';

export { streamQueries } from './stream-queries.js';

export interface StreamEvent {
  appId: string;
  event: WireEvent;
  pos: number;
}

export interface MembershipSpan {
  /** The member sees events with joinedPos <= pos … */
  joinedPos: number;
  /** … and pos <= leftPos, while leftPos is set. */
  leftPos: number | null;
}

/** One page of a user's stream. */
export interface StreamPage {
  /** In position order. */
  events: StreamEvent[];
  /** Every event of the user up to this position is in this page or an earlier one: the next page's start. */
  through: number;
  /** Whether the page was cut at its limit (more may follow `through`). */
  more: boolean;
}

export interface StreamReader {
  /** The highest committed stream position. */
  head(): Promise<number>;
  /**
   * The user's first `limit` events after `afterPos`, in position order, each membership limited to its span
   * (a removed member keeps its own member.removed and nothing later).
   */
  userEvents(appId: string, userId: string, afterPos: number, limit: number): Promise<StreamPage>;
  /** The first `limit` events with afterPos < pos <= toPos, any app (the sequencer's gap fill). */
  range(afterPos: number, toPos: number, limit: number): Promise<StreamEvent[]>;
  /**
   * A user's memberships (current and past) by conversation, as they stood at position `asOf`: where the
   * latest span began after it, the earlier period that covered `asOf` (ending at its removal), if any.
   */
  membershipsOfUser(appId: string, userId: string, asOf: number): Promise<Map<string, MembershipSpan>>;
  /** A conversation's members (current and past) by user. */
  membersOfConversation(appId: string, conversationId: string): Promise<Map<string, MembershipSpan>>;
  /** The current conversations of each of these users (presence fan-out). */
  currentConversationsOfUsers(appId: string, userIds: string[]): Promise<Map<string, string[]>>;
}

// Every page runs these; compiled once, they are only re-bound.
const headQuery = preparedQuery([] as const, (db) => streamQueries.head(db));
const spansQuery = preparedQuery(['appId', 'userId', 'afterPos'] as const, (db, p) =>
  streamQueries.spans(db, p.appId, p.userId, p.afterPos),
);
const boundsQuery = perCount<SeqSearch>(['conversationId', 'pos'], streamQueries.seqBounds);
const pageQuery = perCount<SeqRead>(['conversationId', 'from', 'to'], streamQueries.streamPage);

/** An event of a page as the merge holds it: with the characters of its body. */
interface PageItem {
  pos: number;
  event: StreamEvent;
  chars: number;
}

export interface StreamReaderOptions {
  /** Where pages of users' streams wait for their turn; without one they run at once. */
  catchUps?: CatchUpQueue;
  /**
   * Most events read in one turn: a larger page is read in parts, each waiting for its turn, so one turn
   * holds the event loop for a few milliseconds at most. @defaultValue 250
   */
  eventsPerTurn?: number;
  /**
   * Streams read by one statement (a compound select; SQLite allows 500 terms in one). A user in more
   * conversations gets one statement per this many, their answers combined. @defaultValue 100
   */
  streamsPerStatement?: number;
  /**
   * Characters of message bodies after which a page ends early, at the end of a part (the rest follows on
   * the next page): a page of large messages stays a bounded answer. @defaultValue 1 MiB
   */
  pageChars?: number;
}

export function createStreamReader(store: Store, opts: StreamReaderOptions = {}): StreamReader {
  const { db } = store;
  const perStatement = opts.streamsPerStatement ?? 100;
  const pageChars = opts.pageChars ?? 1 << 20;

  async function head(): Promise<number> {
    const row = (await headQuery(db, {})).rows[0];
    return Number(row?.value ?? 0);
  }

  /**
   * The streams of a page: for each conversation, the member's latest span (from `members`) and, when the
   * member was re-added after the cursor, its earlier periods (member_periods): a cursor taken before a
   * removal and re-add still gets the first period's events (invariant 4).
   */
  async function streamsOf(appId: string, userId: string, afterPos: number, top: number) {
    const spans = (await spansQuery(db, { appId, userId, afterPos })).rows;
    const streams: MergeStream[] = spans.map((s) => ({
      conversationId: s.conversation_id,
      after: Math.max(afterPos, Number(s.joined_pos) - 1),
      to: s.left_pos === null ? top : Math.min(top, Number(s.left_pos)),
    }));
    const joinedLater = new Map(
      spans
        .filter((s) => Number(s.joined_pos) - 1 > afterPos)
        .map((s) => [s.conversation_id, Number(s.joined_pos)]),
    );
    if (joinedLater.size === 0) return streams;
    const periods = await streamQueries
      .closedPeriods(db, appId, userId, [...joinedLater.keys()], afterPos)
      .execute();
    for (const p of periods) {
      const fromPos = Number(p.from_pos ?? 0);
      const toPos = Number(p.to_pos);
      // The latest span is in `streams` already; only the periods that ended before it began are added.
      if (toPos >= joinedLater.get(p.conversation_id)!) continue;
      streams.push({
        conversationId: p.conversation_id,
        after: Math.max(afterPos, fromPos - 1),
        to: Math.min(top, toPos),
      });
    }
    return streams;
  }

  /**
   * The streams as ranges of seqs: for each, the first seq past its start and the first past its end, by
   * one search statement per `streamsPerStatement` streams. Streams with no event are left out.
   */
  async function seqStreams(appId: string, streams: MergeStream[]): Promise<SeqStream[]> {
    const found: SeqStream[] = [];
    for (let i = 0; i < streams.length; i += perStatement) {
      const chunk = streams.slice(i, i + perStatement);
      const searches = chunk.flatMap((s) => [
        { conversationId: s.conversationId, pos: s.after },
        { conversationId: s.conversationId, pos: s.to },
      ]);
      const firstPast = new Array<number>(searches.length);
      for (const [k, seq] of await store.readRows(boundsQuery(db, appId, searches)))
        firstPast[Number(k)] = Number(seq);
      chunk.forEach((s, j) => {
        const [first, end] = [firstPast[2 * j], firstPast[2 * j + 1]];
        // Each search answers once per conversation that exists; a conversation gone answers nothing.
        if (first !== undefined && end !== undefined && end > first)
          found.push({ ...s, first, last: end - 1 });
      });
    }
    return found;
  }

  /** The merge of a user's page after `afterPos`: her streams up to the head, as seqs. */
  async function open(appId: string, userId: string, afterPos: number) {
    const top = await head();
    if (top <= afterPos) return new StreamMerge<PageItem>([], afterPos);
    const streams = streamsAfter(await streamsOf(appId, userId, afterPos, top), afterPos);
    return new StreamMerge<PageItem>(await seqStreams(appId, streams), top);
  }

  /**
   * Reads until `want` events are complete, the streams are all read, or `budget` events were read: one
   * statement per `streamsPerStatement` ranges a round.
   */
  async function fill(appId: string, merge: StreamMerge<PageItem>, want: number, budget: number) {
    for (let read = 0; read < budget && merge.unfinished;) {
      const ready = merge.ready();
      if (ready >= want) return;
      const reads = merge.reads(Math.min(want - ready, budget - read));
      if (reads.length === 0) return;
      for (let i = 0; i < reads.length; i += perStatement) {
        const chunk = reads.slice(i, i + perStatement);
        // As arrays: a page is thousands of rows, and an object per row costs as much as reading it.
        const rows = (await store.readRows(pageQuery(db, appId, chunk))) as PageRow[];
        const items = chunk.map((): PageItem[] => []);
        for (const row of rows) {
          const r = chunk[row[0]]!;
          const event = pageEvent(appId, r.conversationId, row);
          const chars = (row[bodyColumn] as string | null)?.length ?? 0;
          items[row[0]]!.push({ pos: event.pos, event, chars });
        }
        chunk.forEach((r: SeqRead, k) => merge.add(r, items[k]!));
        read += rows.length;
      }
    }
  }

  return {
    head,

    async userEvents(appId, userId, afterPos, limit) {
      const { catchUps } = opts;
      const turn = <T>(task: () => Promise<T>): Promise<T> => (catchUps ? catchUps.run(task) : task());
      const perTurn = catchUps ? (opts.eventsPerTurn ?? 250) : limit;
      // A page takes several turns, each reading about `perTurn` events, so one turn holds the event loop
      // for a few milliseconds at most. Positions up to the head are all committed (cursor.ts): every turn
      // sees the same events below it.
      let merge: StreamMerge<PageItem> | undefined;
      const events: StreamEvent[] = [];
      let through = afterPos;
      let chars = 0;
      for (;;) {
        const want = Math.min(perTurn, limit - events.length);
        const found = await turn(async () => {
          merge ??= await open(appId, userId, afterPos);
          await fill(appId, merge, want, perTurn);
          return merge.take(want);
        });
        for (const item of found.items) {
          events.push(item.event);
          chars += item.chars;
        }
        through = found.through;
        if (!found.more || events.length >= limit || chars >= pageChars)
          return { events, through, more: found.more };
      }
    },

    async range(afterPos, toPos, limit) {
      const rows = await streamQueries.range(db, afterPos, toPos, limit).execute();
      return rows.map((row) => ({ appId: row.app_id, event: toWireEvent(row), pos: Number(row.pos) }));
    },

    async membershipsOfUser(appId, userId, asOf) {
      const rows = await streamQueries.membershipsOfUser(db, appId, userId).execute();
      const spans = new Map(rows.map((r) => [r.conversation_id, span(r)]));
      // Re-added after `asOf` (committed, not yet routed): the member was in its earlier period then, and
      // the events of that period still to be routed are its own (invariant 4 over time).
      const later = [...spans]
        .filter(([, s]) => s.joinedPos > asOf)
        .map(([conversationId]) => conversationId);
      if (later.length === 0) return spans;
      for (const p of await streamQueries.closedPeriods(db, appId, userId, later, asOf).execute()) {
        const fromPos = Number(p.from_pos ?? 0);
        if (fromPos <= asOf) spans.set(p.conversation_id, { joinedPos: fromPos, leftPos: Number(p.to_pos) });
      }
      return spans;
    },

    async membersOfConversation(appId, conversationId) {
      const rows = await streamQueries.membersOfConversation(db, appId, conversationId).execute();
      return new Map(rows.map((r) => [r.user_id, span(r)]));
    },

    async currentConversationsOfUsers(appId, userIds) {
      const result = new Map<string, string[]>();
      // By the (app_id, user_id) index; chunks keep the IN list under SQLite's bound-parameter limit.
      for (let i = 0; i < userIds.length; i += 500) {
        const rows = await db
          .selectFrom('members')
          .select(['user_id', 'conversation_id'])
          .where('app_id', '=', appId)
          .where('user_id', 'in', userIds.slice(i, i + 500))
          .where('left_pos', 'is', null)
          .execute();
        for (const r of rows) {
          const list = result.get(r.user_id);
          if (list) list.push(r.conversation_id);
          else result.set(r.user_id, [r.conversation_id]);
        }
      }
      return result;
    },
  };
}

function span(r: { joined_pos: number; left_pos: number | null }): MembershipSpan {
  return { joinedPos: Number(r.joined_pos), leftPos: r.left_pos === null ? null : Number(r.left_pos) };
}
