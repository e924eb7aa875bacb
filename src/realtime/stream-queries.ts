// The statements of the stream reader, as queries, so their plans can be asserted per database
// (test/query-plans.test.ts): memberships, a stream's bounds as seqs, a page's ranges of seqs, the global range.
// Every read of events seeks an index by conversation and seq, or the stream's own position order.
import { sql, type Compilable, type CompiledQuery, type Kysely, type RawBuilder } from 'kysely';
import { preparedStatement } from '../store/prepared-query.js';
import { toWireEvent, type EventRecord } from '../conversations/events.js';
import type { Database } from '../store/schema.js';
import type { StreamEvent } from './stream-reader.js';
import type { SeqRead } from './stream-merge.js';

/** A search for the first seq of a conversation whose event lies past position `pos`. */
export interface SeqSearch {
  conversationId: string;
  pos: number;
}

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
   * For each search `k`, the first seq whose event lies past its position (the conversation's last seq + 1
   * when none does). Within a conversation seq and position grow together and seqs have no gaps (invariant
   * 3), so each is a search over the seq index by point look-ups: from the newest event back in doubling
   * steps, then halving. It costs about 2·log2 of the events past the position: one look-up for a
   * conversation with nothing new.
   */
  seqBounds: (db: Kysely<Database>, appId: string, searches: SeqSearch[]): RawBuilder<SeqBound> => {
    // Each row of `b`: seqs up to `lo` lie at or before the position, seqs from `hi` past it; while a gap is
    // left between them, `m` is the seq probed next (from `hi` back by `step`, doubling while the events stay
    // past the position; halfway once one did not, step 0) and `p` the position of its event.
    const posAt = (conversationId: Expr, seq: Expr) => sql`(select e.pos from events as e
      where e.app_id = ${appId} and e.conversation_id = ${conversationId} and e.seq = ${seq})`;
    const starts = searches.map(
      (s, k) => sql`select ${sql.lit(k)} as k, c.id as conversation_id, cast(${s.pos} as bigint) as bound,
        cast(0 as bigint) as lo, cast(c.last_seq + 1 as bigint) as hi, cast(1 as bigint) as step,
        cast(c.last_seq as bigint) as m,
        case when c.last_seq > 0 then ${posAt(sql`c.id`, sql`c.last_seq`)} end as p
        from conversations as c where c.app_id = ${appId} and c.id = ${s.conversationId}`,
    );
    // A missing event (none: seqs have no gaps) counts as past the position: its range is read, not skipped.
    const past = sql`(b.p is null or b.p > b.bound)`;
    // The next probe: past, the gap is (lo, m) and the step doubles; else it is (m, hi), halved.
    const next = sql`(case when ${past} then (case when b.step > 0 and b.m - 2 * b.step > b.lo
        then b.m - 2 * b.step else (b.lo + b.m) / 2 end) else (b.m + b.hi) / 2 end)`;
    const gapLeft = sql`(case when ${past} then b.m - b.lo else b.hi - b.m end) > 1`;
    return sql<SeqBound>`with recursive b (k, conversation_id, bound, lo, hi, step, m, p) as (
      ${sql.join(starts, sql` union all `)}
      union all
      select b.k, b.conversation_id, b.bound,
        case when ${past} then b.lo else b.m end,
        case when ${past} then b.m else b.hi end,
        case when ${past} then 2 * b.step else 0 end,
        ${next},
        case when ${gapLeft} then ${posAt(sql`b.conversation_id`, next)} end
      from b where b.hi - b.lo > 1
    )
    select k, hi as seq from b where b.hi - b.lo <= 1`;
  },

  /**
   * A page's reads: each a range of seqs of one conversation, by the seq index. Each row carries `k`, the
   * index of its read in `reads`, so rows need no conversation id to be told apart.
   */
  streamPage: (db: Kysely<Database>, appId: string, reads: SeqRead[]) => {
    const one = (r: SeqRead, k: number) =>
      db
        .selectFrom('events')
        .select([sql.lit(k).as('k'), ...eventColumns])
        .where('app_id', '=', appId)
        .where('conversation_id', '=', r.conversationId)
        .where('seq', '>=', r.from)
        .where('seq', '<=', r.to);
    let query = one(reads[0]!, 0);
    for (let k = 1; k < reads.length; k++) query = query.unionAll(one(reads[k]!, k));
    return query;
  },

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

type Expr = RawBuilder<unknown>;

/** A row of the bounds search: search `k`'s first seq past its position. */
export interface SeqBound {
  k: number;
  seq: number | string;
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
export const bodyColumn = 1 + eventColumns.indexOf('body');

/** A row of the page statement as an array: its read's index `k`, then the event's columns in order. */
export type PageRow = [k: number, ...values: ColumnValues<EventColumns>];
type ColumnValues<C extends ReadonlyArray<keyof EventRecord>> = {
  -readonly [I in keyof C]: EventRecord[C[I]];
};

/** An event of a page from its row; its app and conversation are the read's. */
export function pageEvent(appId: string, conversationId: string, row: PageRow): StreamEvent {
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

/**
 * A statement over `n` items compiled once per `n`, then only re-bound: building and compiling fifty
 * subqueries with the query builder costs more than SQLite takes to run them.
 */
export function perCount<I>(
  fields: ReadonlyArray<keyof I & string>,
  build: (db: Kysely<Database>, appId: string, items: I[]) => Compilable<unknown> | RawBuilder<unknown>,
): (db: Kysely<Database>, appId: string, items: I[]) => CompiledQuery {
  const byCount = new Map<number, (db: Kysely<Database>, values: Record<string, unknown>) => CompiledQuery>();
  return (db, appId, items) => {
    let statement = byCount.get(items.length);
    if (!statement) {
      const names = ['appId', ...items.flatMap((_, i) => fields.map((f) => `${f}${i}`))];
      const placeholders = (p: Record<string, unknown>) =>
        items.map((_, i) => Object.fromEntries(fields.map((f) => [f, p[`${f}${i}`]])) as I);
      statement = preparedStatement(names, (qb, p) => build(qb, p.appId, placeholders(p)));
      byCount.set(items.length, statement);
    }
    const values: Record<string, unknown> = { appId };
    items.forEach((item, i) => fields.forEach((f) => (values[`${f}${i}`] = item[f])));
    return statement(db, values);
  };
}
