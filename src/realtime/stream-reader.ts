// Reads of the event stream from the store: a page of a user's events after a position (resume, long-poll,
// SSE), a range of the global stream (the sequencer's gap fill), memberships (who sees what), and "now".
// Every read seeks an index by conversation or position and is bounded by its page, so its cost follows the
// reader's backlog, not the app's history (the plans are asserted in test/query-plans.test.ts).
import type { Compilable, Kysely, SelectQueryBuilder } from 'kysely';
import { preparedQuery, type PreparedQuery } from '../store/prepared-query.js';
import { toWireEvent, type WireEvent } from '../conversations/events.js';
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
  /** A user's memberships (current and past) by conversation. */
  membershipsOfUser(appId: string, userId: string): Promise<Map<string, MembershipSpan>>;
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

  /** Each read: the positions of one conversation's first events after a position (index only). */
  conversationPositions: (db: Kysely<Database>, appId: string, reads: StreamRead[]) =>
    unionOfReads(reads, (r) =>
      db
        .selectFrom((eb) =>
          conversationRead(eb.selectFrom('events').select(['conversation_id', 'pos']), appId, r).as('e'),
        )
        .selectAll(),
    ),

  /** The same reads, whole events: for the positions the merge chose. */
  conversationEvents: (db: Kysely<Database>, appId: string, reads: StreamRead[]) =>
    unionOfReads(reads, (r) =>
      db
        .selectFrom((eb) => conversationRead(eb.selectFrom('events').selectAll(), appId, r).as('e'))
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
  one: (r: StreamRead) => Q,
): Q {
  let query = one(reads[0]!);
  for (const r of reads.slice(1)) query = query.unionAll(one(r));
  return query;
}

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

  /** Runs reads a bounded number of conversations per statement; rows by read, in position order. */
  async function read<R extends { conversation_id: string; pos: number }>(
    reads: StreamRead[],
    query: (reads: StreamRead[]) => Promise<R[]>,
  ): Promise<Map<StreamRead, R[]>> {
    const byRead = new Map<StreamRead, R[]>(reads.map((r) => [r, []]));
    for (let i = 0; i < reads.length; i += readsPerQuery) {
      const part = reads.slice(i, i + readsPerQuery);
      // Reads of one conversation (its membership periods) cover disjoint positions: a row's is its read.
      for (const row of await query(part)) {
        const pos = Number(row.pos);
        const r = part.find((x) => x.conversationId === row.conversation_id && x.after < pos && pos <= x.to);
        byRead.get(r!)!.push(row);
      }
    }
    // A compound select promises no order between or within its parts.
    for (const rows of byRead.values()) rows.sort((a, b) => Number(a.pos) - Number(b.pos));
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

  async function userPage(
    appId: string,
    userId: string,
    afterPos: number,
    limit: number,
  ): Promise<StreamPage> {
    // Positions up to the head are all committed (cursor.ts), so every round of the merge sees the same
    // events below it, and a conversation found exhausted stays exhausted for this page.
    const top = await head();
    if (top <= afterPos) return { events: [], through: afterPos, more: false };
    const streams = await streamsOf(appId, userId, afterPos, top);
    // First the page's positions, merged from the index alone; then the chosen events, each read once.
    const merge = new StreamMerge<{ pos: number; conversationId: string; key: string }>(streams, {
      limit,
      head: top,
    });
    for (let reads = merge.nextReads(); reads.length > 0; reads = merge.nextReads()) {
      const found = await read(reads, (part) => positionsQuery(db, appId, part));
      for (const r of reads) {
        const rows = found.get(r)!;
        merge.add(
          r,
          rows.map((row) => ({ pos: Number(row.pos), conversationId: r.conversationId, key: r.key! })),
        );
      }
    }
    const page = merge.page();
    // A stream's chosen positions are its first ones after its start: a read with their count.
    const chosen = new Map<string, StreamRead>();
    for (const item of page.items) {
      const r = chosen.get(item.key);
      if (r) {
        r.limit++;
        r.to = item.pos;
      } else {
        const start = streams.find((s) => s.key === item.key)!.after;
        chosen.set(item.key, { conversationId: item.conversationId, after: start, to: item.pos, limit: 1 });
      }
    }
    const rows = [...(await read([...chosen.values()], (part) => eventsQuery(db, appId, part))).values()]
      .flat()
      .sort((x, y) => Number(x.pos) - Number(y.pos));
    return {
      events: rows.map((row) => ({ appId: row.app_id, event: toWireEvent(row), pos: Number(row.pos) })),
      through: page.through,
      more: page.more,
    };
  }

  return {
    head,

    async userEvents(appId, userId, afterPos, limit) {
      const { catchUps } = opts;
      if (!catchUps) return userPage(appId, userId, afterPos, limit);
      // Consecutive parts make the same page as one read: each continues where the last was complete.
      const perTurn = opts.eventsPerTurn ?? 250;
      const events: StreamEvent[] = [];
      let from = afterPos;
      let more = true;
      while (more && events.length < limit) {
        const want = Math.min(perTurn, limit - events.length);
        const part = await catchUps.run(() => userPage(appId, userId, from, want));
        events.push(...part.events);
        from = part.through;
        more = part.more;
      }
      return { events, through: from, more };
    },

    async range(afterPos, toPos, limit) {
      const rows = await streamQueries.range(db, afterPos, toPos, limit).execute();
      return rows.map((row) => ({ appId: row.app_id, event: toWireEvent(row), pos: Number(row.pos) }));
    },

    async membershipsOfUser(appId, userId) {
      const rows = await streamQueries.membershipsOfUser(db, appId, userId).execute();
      return new Map(rows.map((r) => [r.conversation_id, span(r)]));
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
