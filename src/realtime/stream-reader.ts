// Reads of the event stream from the store: a page of a user's events after a position (resume, long-poll,
// SSE), a range of the global stream (the sequencer's gap fill), memberships (who sees what), and "now".
// Every read seeks an index by conversation or position and is bounded by its page, so its cost follows the
// reader's backlog, not the app's history (the plans are asserted in test/query-plans.test.ts).
import { sql, type CompiledQuery, type Kysely } from 'kysely';
import { preparedQuery, preparedStatement } from '../store/prepared-query.js';
import { toWireEvent, type EventRecord, type WireEvent } from '../conversations/events.js';
import type { Database } from '../store/schema.js';
import type { Store } from '../store/store.js';
import type { CatchUpQueue } from './catch-up-queue.js';
import { combine, streamsAfter, type MergeStream } from './stream-merge.js';

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
   * A page of a user's stream: the first `limit` events of her streams, merged in position order by one
   * compound select (each part read lazily from the index, none past what the page takes). Each row
   * carries `k`, the index of its stream in `streams`, so rows need no conversation id to be told apart.
   */
  streamPage: (db: Kysely<Database>, appId: string, streams: MergeStream[], limit: number) =>
    db
      .selectFrom(
        unionOfStreams(streams, (s, k) =>
          db
            .selectFrom((eb) =>
              eb
                .selectFrom('events')
                .select([sql.lit(k).as('k'), ...eventColumns])
                .where('app_id', '=', appId)
                .where('conversation_id', '=', s.conversationId)
                .where('pos', '>', s.after)
                .where('pos', '<=', s.to)
                .orderBy('pos')
                .as('s'),
            )
            .selectAll(),
        ).as('e'),
      )
      .selectAll()
      .orderBy('pos')
      .limit(limit),

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

/** One statement for several streams. */
function unionOfStreams<Q extends { unionAll(other: Q): Q }>(
  streams: MergeStream[],
  one: (s: MergeStream, k: number) => Q,
): Q {
  let query = one(streams[0]!, 0);
  for (let k = 1; k < streams.length; k++) query = query.unionAll(one(streams[k]!, k));
  return query;
}

/**
 * What a catch-up sends of an event, in this order (a page's rows are arrays); its app and conversation are
 * known from the read.
 */
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
type EventColumns = typeof eventColumns;
/** Where a page row holds the body (after `k`). */
const bodyColumn = 1 + eventColumns.indexOf('body');

/**
 * A page statement compiled once per number of streams, then only re-bound: building and compiling fifty
 * subqueries with the query builder costs more than SQLite takes to run them.
 */
function preparedPage() {
  const byCount = new Map<number, (db: Kysely<Database>, values: Record<string, unknown>) => CompiledQuery>();
  const fields = ['conversationId', 'after', 'to'] as const;
  return (db: Kysely<Database>, appId: string, streams: MergeStream[], limit: number) => {
    let statement = byCount.get(streams.length);
    if (!statement) {
      const names = ['appId', 'limit', ...streams.flatMap((_, i) => fields.map((f) => `${f}${i}`))];
      statement = preparedStatement(names, (qb, p) =>
        streamQueries.streamPage(
          qb,
          p.appId,
          streams.map((_, i) => ({
            conversationId: p[`conversationId${i}`],
            after: p[`after${i}`],
            to: p[`to${i}`],
          })),
          p.limit,
        ),
      );
      byCount.set(streams.length, statement);
    }
    const values: Record<string, unknown> = { appId, limit };
    streams.forEach((s, i) => fields.forEach((f) => (values[`${f}${i}`] = s[f])));
    return statement(db, values);
  };
}

/** A row of the page statement as an array: its stream's index `k`, then the event's columns in order. */
type PageRow = [k: number, ...values: ColumnValues<EventColumns>];
type ColumnValues<C extends ReadonlyArray<keyof EventRecord>> = {
  -readonly [I in keyof C]: EventRecord[C[I]];
};

/** An event of a page from its row; its app and conversation are the stream's. */
function pageEvent(appId: string, conversationId: string, row: PageRow): StreamEvent {
  const [, id, seq, pos, type, senderId, body, clientMsgId, subjectId, createdAt, recalledAt, expiredAt] =
    row;
  const event = toWireEvent({
    id,
    app_id: appId,
    conversation_id: conversationId,
    seq,
    pos,
    type,
    sender_id: senderId,
    body,
    client_msg_id: clientMsgId,
    subject_id: subjectId,
    created_at: createdAt,
    recalled_at: recalledAt,
    expired_at: expiredAt,
  });
  return { appId, event, pos: Number(pos) };
}

// Every page runs these; compiled once, they are only re-bound.
const headQuery = preparedQuery([] as const, (db) => streamQueries.head(db));
const spansQuery = preparedQuery(['appId', 'userId', 'afterPos'] as const, (db, p) =>
  streamQueries.spans(db, p.appId, p.userId, p.afterPos),
);
const pageQuery = preparedPage();

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
   * The first `limit` events of the streams after `afterPos`, in position order: one statement per
   * `streamsPerStatement` streams, combined.
   */
  async function part(appId: string, streams: MergeStream[], afterPos: number, limit: number, top: number) {
    const open = streamsAfter(streams, afterPos);
    if (open.length === 0) return { items: [], through: Math.max(afterPos, top), more: false, chars: 0 };
    const answers: StreamEvent[][] = [];
    let chars = 0;
    for (let i = 0; i < open.length; i += perStatement) {
      const chunk = open.slice(i, i + perStatement);
      // As arrays: a page is thousands of rows, and an object per row costs as much as reading it.
      const rows = (await store.readRows(pageQuery(db, appId, chunk, limit))) as PageRow[];
      for (const row of rows) chars += (row[bodyColumn] as string | null)?.length ?? 0;
      answers.push(rows.map((row) => pageEvent(appId, chunk[row[0]]!.conversationId, row)));
    }
    return { ...combine(answers, limit, top), chars };
  }

  return {
    head,

    async userEvents(appId, userId, afterPos, limit) {
      const { catchUps } = opts;
      const turn = <T>(task: () => Promise<T>): Promise<T> => (catchUps ? catchUps.run(task) : task());
      const perTurn = catchUps ? (opts.eventsPerTurn ?? 250) : limit;
      // A page takes several turns, each reading at most `perTurn` events, so one turn holds the event loop
      // for a few milliseconds at most. Positions up to the head are all committed (cursor.ts): every part
      // sees the same events below it.
      let top = 0;
      let streams: MergeStream[] | undefined;
      const events: StreamEvent[] = [];
      let through = afterPos;
      let chars = 0;
      for (;;) {
        const want = Math.min(perTurn, limit - events.length);
        const found = await turn(async () => {
          if (!streams) {
            top = await head();
            streams = top > afterPos ? await streamsOf(appId, userId, afterPos, top) : [];
          }
          return part(appId, streams, through, want, top);
        });
        events.push(...found.items);
        through = found.through;
        chars += found.chars;
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
