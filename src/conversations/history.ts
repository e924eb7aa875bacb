// Reading events: history pages by seq, and one message with its derived status, each within the reader's
// membership periods.
import { OncelyError } from '../errors.js';
import type { Actor } from '../apps/principal.js';
import type { Kysely } from 'kysely';
import type { Database } from '../store/schema.js';
import type { Store } from '../store/store.js';
import { toWireEvent, type WireEvent } from './events.js';
import { inPeriods, periodsOf, withinPeriods, type SeqPeriod } from './member-periods.js';
import { requireReadAccess } from './membership.js';
import { deriveStatus, type DerivedStatus } from './status.js';
import type { ExpiryRule } from './expiry-rule.js';

export interface HistoryQuery {
  after?: number | undefined;
  before?: number | undefined;
  limit: number;
}

/** The hot reads of history, as queries (their plans are asserted in test/query-plans.test.ts). */
export const historyQueries = {
  /** `limit + 1` events by the (app_id, conversation_id, seq) index, newest first when paging back. */
  page: (
    db: Kysely<Database>,
    appId: string,
    conversationId: string,
    q: HistoryQuery,
    periods?: SeqPeriod[],
  ) => {
    let query = db
      .selectFrom('events')
      .selectAll()
      .where('app_id', '=', appId)
      .where('conversation_id', '=', conversationId);
    if (periods) query = withinPeriods(query, periods);
    if (q.after !== undefined) query = query.where('seq', '>', q.after);
    if (q.before !== undefined) query = query.where('seq', '<', q.before);
    const backwards = q.before !== undefined && q.after === undefined;
    return query.orderBy('seq', backwards ? 'desc' : 'asc').limit(q.limit + 1);
  },
  message: (db: Kysely<Database>, appId: string, messageId: string) =>
    db.selectFrom('events').selectAll().where('app_id', '=', appId).where('id', '=', messageId),
  /**
   * The markers of a message's recipients: who was a member when it was sent (still or no longer), but its
   * sender. A member who joined later is none, though its markers start past the message.
   */
  recipients: (
    db: Kysely<Database>,
    appId: string,
    conversationId: string,
    senderId: string | null,
    seq: number,
  ) =>
    db
      .selectFrom('member_periods as p')
      .innerJoin('members as m', (j) =>
        j
          .onRef('m.app_id', '=', 'p.app_id')
          .onRef('m.conversation_id', '=', 'p.conversation_id')
          .onRef('m.user_id', '=', 'p.user_id'),
      )
      .select(['m.delivered_seq', 'm.read_seq'])
      .where('p.app_id', '=', appId)
      .where('p.conversation_id', '=', conversationId)
      .where('p.from_seq', '<=', seq)
      .where((eb) => eb.or([eb('p.to_seq', 'is', null), eb('p.to_seq', '>=', seq)]))
      .where('p.user_id', '!=', senderId ?? ''),
};

export function createHistory({ store, expiry }: { store: Store; expiry: ExpiryRule }) {
  /** A user's periods in the conversation; undefined for the app, which reads everything. */
  const readablePeriods = (actor: Actor, conversationId: string) =>
    actor.kind === 'app' ? undefined : periodsOf(store.db, actor.appId, conversationId, actor.userId);

  return {
    /**
     * A page of events by seq. With `before` (and no `after`) the page is the `limit` events just before it,
     * so a client pages back from the newest; otherwise it runs forward from `after` (default 0).
     * Items are always in ascending seq; `hasMore` says whether the same direction has more.
     */
    async page(
      actor: Actor,
      conversationId: string,
      q: HistoryQuery,
    ): Promise<{ items: WireEvent[]; hasMore: boolean }> {
      const conversation = await requireReadAccess(store.db, actor, conversationId);
      const retention = expiry.secondsOf(conversation.retention_seconds);
      // Invariant 4: a user reads the events of its own membership periods, as its stream delivers them.
      const periods = await readablePeriods(actor, conversationId);
      if (periods?.length === 0) return { items: [], hasMore: false };
      const rows = await historyQueries.page(store.db, actor.appId, conversationId, q, periods).execute();
      const backwards = q.before !== undefined && q.after === undefined;
      const hasMore = rows.length > q.limit;
      const page = rows.slice(0, q.limit);
      if (backwards) page.reverse();
      return { items: page.map((row) => expiry.apply(toWireEvent(row), retention)), hasMore };
    },

    /** One message with its status; readable by the app and by members of its conversation. */
    async message(actor: Actor, messageId: string): Promise<WireEvent & DerivedStatus> {
      const row = await historyQueries.message(store.db, actor.appId, messageId).executeTakeFirst();
      if (!row) throw OncelyError.of('message_not_found', `message ${messageId} does not exist`);
      const conversation = await requireReadAccess(store.db, actor, row.conversation_id);
      const periods = await readablePeriods(actor, row.conversation_id);
      // Sent while the user was not a member: as if it did not exist (its existence is not the user's to know).
      if (periods && !inPeriods(Number(row.seq), periods))
        throw OncelyError.of('message_not_found', `message ${messageId} does not exist`);
      const recipients = await historyQueries
        .recipients(store.db, actor.appId, row.conversation_id, row.sender_id, Number(row.seq))
        .execute();
      const event = expiry.apply(toWireEvent(row), expiry.secondsOf(conversation.retention_seconds));
      const status = deriveStatus(
        event.seq,
        row.recalled_at !== null,
        recipients.map((r) => ({ deliveredSeq: Number(r.delivered_seq), readSeq: Number(r.read_seq) })),
      );
      return { ...event, ...status };
    },
  };
}

export type History = ReturnType<typeof createHistory>;
