// Refused callbacks kept for inspection (invariant 5: machine input is never dropped silently): malformed
// payloads, refusals by ingest, and msgIds repeated with another payload. Bounded per source.
import { newId, type Clock } from '../clock.js';
import type { Kysely } from 'kysely';
import type { Database } from '../store/schema.js';
import type { Store } from '../store/store.js';

/** Largest payload text kept per rejection. */
const payloadMaxChars = 16 * 1024;

export interface NewRejection {
  appId: string;
  sourceId: string;
  reason: string;
  message: string;
  msgId?: string | undefined;
  messageId?: string | undefined;
  payload: Buffer;
}

export interface RejectionView {
  id: string;
  reason: string;
  message: string;
  msgId: string | null;
  messageId: string | null;
  payload: string;
  truncated: boolean;
  receivedAt: string;
}

/** The reads of rejections, by the (app_id, source_id, id) index (plans: test/query-plans.test.ts). */
export const rejectionQueries = {
  /** A page, newest first; `before` is the id of the last item of the previous page. */
  list: (
    db: Kysely<Database>,
    appId: string,
    sourceId: string,
    opts: { limit: number; before?: string | undefined },
  ) => {
    let query = db
      .selectFrom('callback_rejections')
      .selectAll()
      .where('app_id', '=', appId)
      .where('source_id', '=', sourceId);
    if (opts.before) query = query.where('id', '<', opts.before);
    return query.orderBy('id', 'desc').limit(opts.limit + 1);
  },
  /** The newest id beyond the `keep` newest, if any: it and everything older are trimmed. */
  cutoff: (db: Kysely<Database>, appId: string, sourceId: string, keep: number) =>
    db
      .selectFrom('callback_rejections')
      .select('id')
      .where('app_id', '=', appId)
      .where('source_id', '=', sourceId)
      .orderBy('id', 'desc')
      .limit(1)
      .offset(keep),
};

export function createRejections({
  store,
  clock,
  maxPerSource,
}: {
  store: Store;
  clock: Clock;
  maxPerSource: number;
}) {
  return {
    async record(r: NewRejection): Promise<void> {
      const text = r.payload.toString('utf8');
      await store.transaction(async (tx) => {
        await tx
          .insertInto('callback_rejections')
          .values({
            id: newId(),
            app_id: r.appId,
            source_id: r.sourceId,
            reason: r.reason,
            message: r.message.slice(0, 1000),
            msg_id: r.msgId ?? null,
            message_id: r.messageId ?? null,
            payload: text.length > payloadMaxChars ? `${text.slice(0, payloadMaxChars)}\u2026` : text,
            received_at: clock.now(),
          })
          .execute();
        // Keep the newest `maxPerSource`: ids are time-ordered, so everything below the cut-off id goes.
        const cutoff = await rejectionQueries
          .cutoff(tx, r.appId, r.sourceId, maxPerSource)
          .executeTakeFirst();
        if (cutoff) {
          await tx
            .deleteFrom('callback_rejections')
            .where('app_id', '=', r.appId)
            .where('source_id', '=', r.sourceId)
            .where('id', '<=', cutoff.id)
            .execute();
        }
      });
    },

    /** Newest first; `before` is the id of the last item of the previous page. */
    async list(appId: string, sourceId: string, opts: { limit: number; before?: string | undefined }) {
      const rows = await rejectionQueries.list(store.db, appId, sourceId, opts).execute();
      const items: RejectionView[] = rows.slice(0, opts.limit).map((row) => ({
        id: row.id,
        reason: row.reason,
        message: row.message,
        msgId: row.msg_id,
        messageId: row.message_id,
        payload: row.payload,
        truncated: row.payload.length > payloadMaxChars,
        receivedAt: new Date(Number(row.received_at)).toISOString(),
      }));
      return { items, hasMore: rows.length > opts.limit };
    },
  };
}

export type Rejections = ReturnType<typeof createRejections>;
