// Reads of the event stream from the store: a page of a user's events after a position (resume, long-poll,
// SSE), a range of the global stream (the sequencer's gap fill), memberships (who sees what), and "now".
// Every read seeks an index by conversation or position and is bounded by its page, so its cost follows the
// reader's backlog, not the app's history (the plans are asserted in test/query-plans.test.ts).
import { sql, type Compilable, type Kysely, type SelectQueryBuilder } from 'kysely';
import { preparedQuery, type PreparedQuery } from '../store/prepared-query.js';
import { toWireEvent, type EventRecord, type WireEvent } from '../conversations/events.js';
import type { Database } from '../store/schema.js';
import type { Store } from '../store/store.js';
import type { CatchUpQueue } from './catch-up-queue.js';
import { StreamMerge, type MergeStream, type StreamRead } from './stream-merge.js';

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

/** Conversations read by one statement; SQLite allows 500 terms in a compound select. */
const readsPerQuery = 50;

/** The hot reads as queries, so their plans can be asserted per database (test/query-plans.test.ts). */
export const streamQueries = {
  head: (db: Kysely<Database>) => db.selectFrom('counters').select('value').where('name', '=', 'pos'),

  /**
   * The memberships of a user whose latest span reaches past `afterPos` (one joined after the head read
   * included: its earlier periods may still lie below the head).
   */
  spans: (db: Kysely<Database>, appId: string, userId: string, afterPos: number) =>
    db
      .selectFrom('members')
      .select(['conversation_id', 'joined_pos', 'left_pos'])
      .where('app_id', '=', appId)
      .where('user_id', '=', userId)
      .where((eb) => eb.or([eb('left_pos', 'is', null), eb('left_pos', '>', afterPos)])),

  /**
   * The closed membership periods (migration 0008) of a user in some conversations that end past `afterPos`,
   * as positions: the events that opened and closed them, found by seq (founding members open at 0).
   */
  closedPeriods: (
    db: Kysely<Database>,
    appId: string,
    userId: string,
    conversationIds: string[],
    afterPos: number,
  ) =>
    db
      .selectFrom('member_periods as p')
      .innerJoin('events as closing', (j) =>
        j
          .onRef('closing.app_id', '=', 'p.app_id')
          .onRef('closing.conversation_id', '=', 'p.conversation_id')
          .onRef('closing.seq', '=', 'p.to_seq'),
      )
      .leftJoin('events as opening', (j) =>
        j
          .onRef('opening.app_id', '=', 'p.app_id')
          .onRef('opening.conversation_id', '=', 'p.conversation_id')
          .onRef('opening.seq', '=', 'p.from_seq'),
      )
      .select(['p.conversation_id', 'opening.pos as from_pos', 'closing.pos as to_pos'])
      .where('p.app_id', '=', appId)
      .where('p.conversation_id', 'in', conversationIds)
      .where('p.user_id', '=', userId)
      .where('closing.pos', '>', afterPos),

  /**
   * Each read: the positions of one conversation's first events after a position (index only). Each row
   * carries `k`, the index of its read in `reads`, so rows need no conversation id to be told apart.
   */
  conversationPositions: (db: Kysely<Database>, appId: string, reads: StreamRead[]) =>
    unionOfReads(reads, (r, k) =>
      db
        .selectFrom((eb) =>
          conversationRead(eb.selectFrom('events').select([sql.lit(k).as('k'), 'pos']), appId, r).as('e'),
        )
        .selectAll(),
    ),

  /**
   * The same reads, the events' own columns: for the positions the merge chose. The app and conversation are
   * the read's (`k`); every column a row carries is one more value to make for each event read.
   */
  conversationEvents: (db: Kysely<Database>, appId: string, reads: StreamRead[]) =>
    unionOfReads(reads, (r, k) =>
      db
        .selectFrom((eb) =>
          conversationRead(
            eb.selectFrom('events').select([sql.lit(k).as('k'), ...eventColumns]),
            appId,
            r,
          ).as('e'),
        )
        .selectAll(),
    ),

  membershipsOfUser: (db: Kysely<Database>, appId: string, userId: string) =>
    db
      .selectFrom('members')
      .select(['conversation_id', 'joined_pos', 'left_pos'])
      .where('app_id', '=', appId)
      .where('user_id', '=', userId),

  membersOfConversation: (db: Kysely<Database>, appId: string, conversationId: string) =>
    db
      .selectFrom('members')
      .select(['user_id', 'joined_pos', 'left_pos'])
      .where('app_id', '=', appId)
      .where('conversation_id', '=', conversationId),

  range: (db: Kysely<Database>, afterPos: number, toPos: number, limit: number) =>
    db
      .selectFrom('events')
      .selectAll()
      .where('pos', '>', afterPos)
      .where('pos', '<=', toPos)
      .orderBy('pos')
      .limit(limit),
};

/** One conversation's first events after a position, by the (app_id, conversation_id, pos) index. */
function conversationRead<Q extends SelectQueryBuilder<Database, 'events', object>>(
  query: Q,
  appId: string,
  r: StreamRead,
): Q {
  return query
    .where('app_id', '=', appId)
    .where('conversation_id', '=', r.conversationId)
    .where('pos', '>', r.after)
    .where('pos', '<=', r.to)
    .orderBy('pos')
    .limit(r.limit) as Q;
}

/** One statement for several reads; SQLite wants each ordered, limited part in its own subquery. */
function unionOfReads<Q extends { unionAll(other: Q): Q }>(
  reads: StreamRead[],
  one: (r: StreamRead, k: number) => Q,
): Q {
  let query = one(reads[0]!, 0);
  for (let k = 1; k < reads.length; k++) query = query.unionAll(one(reads[k]!, k));
  return query;
}

/** What a catch-up sends of an event; its app and conversation are known from the read. */
const eventColumns = [
  'id',
  'seq',
  'pos',
  'type',
  'sender_id',
  'body',
  'client_msg_id',
  'subject_id',
  'created_at',
  'recalled_at',
  'expired_at',
] as const satisfies ReadonlyArray<keyof EventRecord>;

/**
 * A union of reads compiled once per number of reads, then only re-bound: building and compiling fifty
 * subqueries with the query builder costs more than SQLite takes to run them.
 */
function preparedReads<R>(
  build: (db: Kysely<Database>, appId: string, reads: StreamRead[]) => Compilable<R>,
): (db: Kysely<Database>, appId: string, reads: StreamRead[]) => Promise<R[]> {
  const byCount = new Map<number, PreparedQuery<string, R>>();
  const fields = ['conversationId', 'after', 'to', 'limit'] as const;
  return async (db, appId, reads) => {
    let query = byCount.get(reads.length);
    if (!query) {
      const names = ['appId', ...reads.flatMap((_, i) => fields.map((f) => `${f}${i}`))];
      query = preparedQuery(names, (qb, p) =>
        build(
          qb,
          p.appId,
          reads.map((_, i) => ({
            conversationId: p[`conversationId${i}`],
            after: p[`after${i}`],
            to: p[`to${i}`],
            limit: p[`limit${i}`],
          })),
        ),
      );
      byCount.set(reads.length, query);
    }
    const values: Record<string, unknown> = { appId };
    reads.forEach((r, i) => fields.forEach((f) => (values[`${f}${i}`] = r[f])));
    return (await query(db, values)).rows;
  };
}

// Every page runs these; compiled once, they are only re-bound.
const headQuery = preparedQuery([] as const, (db) => streamQueries.head(db));
const spansQuery = preparedQuery(['appId', 'userId', 'afterPos'] as const, (db, p) =>
  streamQueries.spans(db, p.appId, p.userId, p.afterPos),
);
const positionsQuery = preparedReads(streamQueries.conversationPositions);
const eventsQuery = preparedReads(streamQueries.conversationEvents);

/** A position the merge chose for a page, with its stream (`key`: one membership period of a conversation). */
interface ChosenEvent {
  pos: number;
  conversationId: string;
  key: string;
}

/** A page decided from the index: its positions in order, and where each stream starts. */
interface PagePlan {
  items: ChosenEvent[];
  starts: Map<string, number>;
  through: number;
  more: boolean;
}

export interface StreamReaderOptions {
  /** Where pages of users' streams wait for their turn; without one they run at once. */
  catchUps?: CatchUpQueue;
  /**
   * Most events read in one turn: a larger page is read in parts, each waiting for its turn, so one turn
   * holds the event loop for a few milliseconds at most. @defaultValue 250
   */
  eventsPerTurn?: number;
}

export function createStreamReader(store: Store, opts: StreamReaderOptions = {}): StreamReader {
  const { db } = store;

  async function head(): Promise<number> {
    const row = (await headQuery(db, {})).rows[0];
    return Number(row?.value ?? 0);
  }

  /** Runs reads a bounded number per statement; the rows of each read (by its index), in position order. */
  async function read<R extends { k: number; pos: number }>(
    reads: StreamRead[],
    query: (reads: StreamRead[]) => Promise<R[]>,
  ): Promise<R[][]> {
    const byRead: R[][] = reads.map(() => []);
    for (let i = 0; i < reads.length; i += readsPerQuery) {
      for (const row of await query(reads.slice(i, i + readsPerQuery))) byRead[i + Number(row.k)]!.push(row);
    }
    // A compound select promises no order between or within its parts.
    for (const rows of byRead) rows.sort((a, b) => Number(a.pos) - Number(b.pos));
    return byRead;
  }

  /**
   * The streams of a page: for each conversation, the member's latest span (from `members`) and, when the
   * member was re-added after the cursor, its earlier periods (member_periods): a cursor taken before a
   * removal and re-add still gets the first period's events (invariant 4).
   */
  async function streamsOf(appId: string, userId: string, afterPos: number, top: number) {
    const spans = (await spansQuery(db, { appId, userId, afterPos })).rows;
    const streams: Array<MergeStream & { key: string }> = spans.map((s) => ({
      conversationId: s.conversation_id,
      key: s.conversation_id,
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
        key: `${p.conversation_id}\n${fromPos}`,
        after: Math.max(afterPos, fromPos - 1),
        to: Math.min(top, toPos),
      });
    }
    return streams;
  }

  /**
   * The positions of a page, merged from the index alone (two or three index reads, a short turn), and
   * where each of its streams starts.
   */
  async function planPage(appId: string, userId: string, afterPos: number, limit: number): Promise<PagePlan> {
    // Positions up to the head are all committed (cursor.ts), so every round of the merge sees the same
    // events below it, and a conversation found exhausted stays exhausted for this page; the events read
    // for the plan in later turns lie below the head too, so they are the ones planned.
    const top = await head();
    if (top <= afterPos) return { items: [], starts: new Map(), through: afterPos, more: false };
    const streams = await streamsOf(appId, userId, afterPos, top);
    const merge = new StreamMerge<ChosenEvent>(streams, { limit, head: top });
    for (let reads = merge.nextReads(); reads.length > 0; reads = merge.nextReads()) {
      const found = await read(reads, (part) => positionsQuery(db, appId, part));
      reads.forEach((r, i) =>
        merge.add(
          r,
          found[i]!.map((row) => ({ pos: Number(row.pos), conversationId: r.conversationId, key: r.key! })),
        ),
      );
    }
    const page = merge.page();
    return {
      items: page.items,
      starts: new Map(streams.map((s) => [s.key, s.after])),
      through: page.through,
      more: page.more,
    };
  }

  /**
   * The events of some of a plan's items (consecutive, in position order). A stream's chosen positions
   * are its first ones after where the last part of it ended (`after`, updated here): a read with their count.
   */
  async function chosenEvents(
    appId: string,
    items: ChosenEvent[],
    after: Map<string, number>,
  ): Promise<StreamEvent[]> {
    const byStream = new Map<string, StreamRead>();
    for (const item of items) {
      const r = byStream.get(item.key);
      if (r) {
        r.limit++;
        r.to = item.pos;
      } else {
        byStream.set(item.key, {
          conversationId: item.conversationId,
          after: after.get(item.key)!,
          to: item.pos,
          limit: 1,
        });
      }
    }
    for (const [key, r] of byStream) after.set(key, r.to);
    const reads = [...byStream.values()];
    const found = await read(reads, (part) => eventsQuery(db, appId, part));
    const events: StreamEvent[] = [];
    reads.forEach((r, i) => {
      for (const row of found[i]!) {
        const record: EventRecord = { ...row, app_id: appId, conversation_id: r.conversationId };
        events.push({ appId, event: toWireEvent(record), pos: Number(row.pos) });
      }
    });
    return events.sort((x, y) => x.pos - y.pos);
  }

  return {
    head,

    async userEvents(appId, userId, afterPos, limit) {
      const { catchUps } = opts;
      const turn = <T>(task: () => Promise<T>): Promise<T> => (catchUps ? catchUps.run(task) : task());
      // A page takes several turns: first its positions, then its events at most `eventsPerTurn` a turn, so
      // one turn holds the event loop for a few milliseconds at most.
      const plan = await turn(() => planPage(appId, userId, afterPos, limit));
      const perTurn = catchUps ? (opts.eventsPerTurn ?? 250) : Math.max(1, plan.items.length);
      const after = plan.starts;
      const events: StreamEvent[] = [];
      for (let i = 0; i < plan.items.length; i += perTurn) {
        const part = plan.items.slice(i, i + perTurn);
        events.push(...(await turn(() => chosenEvents(appId, part, after))));
      }
      return { events, through: plan.through, more: plan.more };
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
