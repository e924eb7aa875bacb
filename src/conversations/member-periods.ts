// Membership over time (invariant 4): the periods, by seq, in which a user was a member of a conversation.
// A user reads only the events of its own periods — history, a message by id — as its stream delivers
// only those; a message's recipients are the members of its time, not today's.
import type { Kysely, SelectQueryBuilder } from 'kysely';
import type { Database } from '../store/schema.js';
import type { Store, Tx } from '../store/store.js';

/** Seqs `from` to `to` inclusive; `to` undefined while the period is open. */
export interface SeqPeriod {
  from: number;
  to: number | undefined;
}

type Db = Store['db'] | Tx;

/** Opens a period for each member just added (or founding: `fromSeq` 0), in the adding transaction. */
export async function openPeriods(
  tx: Tx,
  rows: Array<{ appId: string; conversationId: string; userId: string; fromSeq: number }>,
): Promise<void> {
  if (rows.length === 0) return;
  await tx
    .insertInto('member_periods')
    .values(
      rows.map((r) => ({
        app_id: r.appId,
        conversation_id: r.conversationId,
        user_id: r.userId,
        from_seq: r.fromSeq,
        to_seq: null,
      })),
    )
    .execute();
}

/** Closes the member's open period at its removal's seq, in the removing transaction. */
export async function closePeriod(
  tx: Tx,
  r: { appId: string; conversationId: string; userId: string; toSeq: number },
): Promise<void> {
  await tx
    .updateTable('member_periods')
    .set({ to_seq: r.toSeq })
    .where('app_id', '=', r.appId)
    .where('conversation_id', '=', r.conversationId)
    .where('user_id', '=', r.userId)
    .where('to_seq', 'is', null)
    .execute();
}

export const periodQueries = {
  /** A user's periods in one conversation, oldest first (by the primary key). */
  ofUser: (db: Kysely<Database>, appId: string, conversationId: string, userId: string) =>
    db
      .selectFrom('member_periods')
      .select(['from_seq', 'to_seq'])
      .where('app_id', '=', appId)
      .where('conversation_id', '=', conversationId)
      .where('user_id', '=', userId)
      .orderBy('from_seq'),
};

export async function periodsOf(
  db: Db,
  appId: string,
  conversationId: string,
  userId: string,
): Promise<SeqPeriod[]> {
  const rows = await periodQueries.ofUser(db, appId, conversationId, userId).execute();
  return rows.map((r) => ({
    from: Number(r.from_seq),
    to: r.to_seq === null ? undefined : Number(r.to_seq),
  }));
}

export const inPeriods = (seq: number, periods: SeqPeriod[]): boolean =>
  periods.some((p) => seq >= p.from && (p.to === undefined || seq <= p.to));

/**
 * The events within the periods (at least one), as one seq range (first start to last end) with the gaps
 * between periods cut out: the range keeps a page on the (app_id, conversation_id, seq) index; the gaps are a
 * residual filter.
 */
export function withinPeriods<Q extends SelectQueryBuilder<Database, 'events', object>>(
  query: Q,
  periods: SeqPeriod[],
): Q {
  const first = periods[0]!;
  const last = periods[periods.length - 1]!;
  let q = query.where('seq', '>=', first.from);
  if (last.to !== undefined) q = q.where('seq', '<=', last.to);
  for (let i = 1; i < periods.length; i++) {
    const [gapFrom, gapTo] = [periods[i - 1]!.to!, periods[i]!.from];
    q = q.where((eb) => eb.or([eb('seq', '<=', gapFrom), eb('seq', '>=', gapTo)]));
  }
  return q as Q;
}
