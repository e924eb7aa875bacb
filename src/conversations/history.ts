// Reading events: history pages by seq, and one message with its derived status.
import { OncelyError } from '../errors.js';
import type { Actor } from '../apps/principal.js';
import type { Kysely } from 'kysely';
import type { Database } from '../store/schema.js';
import type { Store } from '../store/store.js';
import { toWireEvent, type WireEvent } from './events.js';
import { requireReadAccess } from './membership.js';
import { deriveStatus, type DerivedStatus } from './status.js';

export interface HistoryQuery {
  after?: number | undefined;
  before?: number | undefined;
  limit: number;
}

/** The hot reads of history, as queries (their plans are asserted in test/query-plans.test.ts). */
export const historyQueries = {
  /** `limit + 1` events by the (app_id, conversation_id, seq) index, newest first when paging back. */
  page: (db: Kysely<Database>, appId: string, conversationId: string, q: HistoryQuery) => {
    let query = db
      .selectFrom('events')
      .selectAll()
      .where('app_id', '=', appId)
      .where('conversation_id', '=', conversationId);
    if (q.after !== undefined) query = query.where('seq', '>', q.after);
    if (q.before !== undefined) query = query.where('seq', '<', q.before);
    const backwards = q.before !== undefined && q.after === undefined;
    return query.orderBy('seq', backwards ? 'desc' : 'asc').limit(q.limit + 1);
  },
  message: (db: Kysely<Database>, appId: string, messageId: string) =>
    db.selectFrom('events').selectAll().where('app_id', '=', appId).where('id', '=', messageId),
  /** The markers of a message's recipients: the conversation's current members but its sender. */
  recipients: (db: Kysely<Database>, appId: string, conversationId: string, senderId: string | null) =>
    db
      .selectFrom('members')
      .select(['delivered_seq', 'read_seq'])
      .where('app_id', '=', appId)
      .where('conversation_id', '=', conversationId)
      .where('left_pos', 'is', null)
      .where('user_id', '!=', senderId ?? ''),
};

export function createHistory({ store }: { store: Store }) {
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
      await requireReadAccess(store.db, actor, conversationId);
      const rows = await historyQueries.page(store.db, actor.appId, conversationId, q).execute();
      const backwards = q.before !== undefined && q.after === undefined;
      const hasMore = rows.length > q.limit;
      const page = rows.slice(0, q.limit);
      if (backwards) page.reverse();
      return { items: page.map(toWireEvent), hasMore };
    },

    /** One message with its status; readable by the app and by members of its conversation. */
    async message(actor: Actor, messageId: string): Promise<WireEvent & DerivedStatus> {
      const row = await historyQueries.message(store.db, actor.appId, messageId).executeTakeFirst();
      if (!row) throw OncelyError.of('message_not_found', `message ${messageId} does not exist`);
      await requireReadAccess(store.db, actor, row.conversation_id);
      const recipients = await historyQueries
        .recipients(store.db, actor.appId, row.conversation_id, row.sender_id)
        .execute();
      const event = toWireEvent(row);
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
