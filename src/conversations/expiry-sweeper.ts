// Message expiry, the sweep: erases the bodies of messages older than their conversation's retention,
// like a recall does (body set to null, then the store's scrub), and keeps their rows, so seqs stay gapless
// (invariant 3). Each conversation keeps a watermark (`expired_seq`): a pass reads only the messages after
// it, by the seq index, and stops at the first one still within the retention.
import { sql } from 'kysely';
import type { Clock } from '../clock.js';
import type { Logger } from '../observability/logger.js';
import type { ConversationRef, Store, Tx } from '../store/store.js';
import type { ExpiryRule } from './expiry-rule.js';

export interface ExpirySweeperOptions {
  store: Store;
  clock: Clock;
  logger: Logger;
  expiry: ExpiryRule;
  /** How often a pass runs (`ONCELY_EXPIRY_SWEEP_INTERVAL_MS`); 0: only when `sweep()` is called. */
  intervalMs: number;
  /** Conversations per transaction. @defaultValue 100 */
  conversationsPerTransaction?: number;
  /** Messages of one conversation expired in one transaction at most; the rest in the next. @defaultValue 2000 */
  messagesPerConversation?: number;
  /** Called with the number of messages each transaction expired. */
  onExpired?: (count: number) => void;
}

export const expirySweeperDefaults = { conversationsPerTransaction: 100, messagesPerConversation: 2000 };

export interface ExpirySweeper {
  /** One full pass: expires every message past its retention now; resolves with how many, once scrubbed. */
  sweep(): Promise<number>;
  close(): Promise<void>;
}

export function createExpirySweeper(options: ExpirySweeperOptions): ExpirySweeper {
  const { store, clock, logger, expiry } = options;
  const perTransaction =
    options.conversationsPerTransaction ?? expirySweeperDefaults.conversationsPerTransaction;
  const perConversation = options.messagesPerConversation ?? expirySweeperDefaults.messagesPerConversation;
  let running: Promise<number> | undefined;
  let closed = false;

  /** The next conversations that may hold messages to expire, after `after` in key order. */
  function candidates(after: ConversationRef | undefined) {
    let query = store.db
      .selectFrom('conversations')
      .select(['app_id', 'id'])
      .whereRef('last_seq', '>', 'expired_seq')
      .where((eb) =>
        expiry.defaultSeconds > 0
          ? eb.or([eb('retention_seconds', 'is', null), eb('retention_seconds', '>', 0)])
          : eb('retention_seconds', '>', 0),
      );
    if (after) {
      query = query.where((eb) =>
        eb(eb.refTuple('app_id', 'id'), '>', eb.tuple(after.appId, after.conversationId)),
      );
    }
    return query.orderBy('app_id').orderBy('id').limit(perTransaction).execute();
  }

  /**
   * Expires one conversation's due messages after its watermark: how many bodies it erased, and whether it
   * stopped at the per-transaction cap with more due.
   */
  async function expireConversation(
    tx: Tx,
    ref: ConversationRef,
    now: number,
  ): Promise<{ erased: number; more: boolean }> {
    const none = { erased: 0, more: false };
    const conv = await tx
      .selectFrom('conversations')
      .select(['retention_seconds', 'expired_seq', 'last_seq'])
      .where('app_id', '=', ref.appId)
      .where('id', '=', ref.conversationId)
      .executeTakeFirst();
    if (!conv) return none;
    const retention = expiry.secondsOf(conv.retention_seconds);
    const from = Number(conv.expired_seq);
    if (retention <= 0 || Number(conv.last_seq) <= from) return none;
    // Seqs are handed out under the conversation's lock in time order, so the first event still within
    // the retention ends the run of expired ones.
    const kept = await tx
      .selectFrom('events')
      .select('seq')
      .where('app_id', '=', ref.appId)
      .where('conversation_id', '=', ref.conversationId)
      .where('seq', '>', from)
      .where('created_at', '>', now - retention * 1000)
      .orderBy('seq')
      .limit(1)
      .executeTakeFirst();
    const due = kept ? Number(kept.seq) - 1 : Number(conv.last_seq);
    const upTo = Math.min(due, from + perConversation);
    if (upTo <= from) return none;
    const erased = await tx
      .updateTable('events')
      .set({ body: null, expired_at: now })
      .where('app_id', '=', ref.appId)
      .where('conversation_id', '=', ref.conversationId)
      .where('seq', '>', from)
      .where('seq', '<=', upTo)
      .where('type', '=', sql.lit('message.created'))
      .where('recalled_at', 'is', null)
      .where('expired_at', 'is', null)
      .executeTakeFirst();
    await tx
      .updateTable('conversations')
      .set({ expired_seq: upTo })
      .where('app_id', '=', ref.appId)
      .where('id', '=', ref.conversationId)
      .execute();
    return { erased: Number(erased.numUpdatedRows), more: upTo < due };
  }

  async function pass(): Promise<number> {
    const now = clock.now();
    let total = 0;
    let after: ConversationRef | undefined;
    // A conversation with more due messages than one transaction takes is taken again in another round.
    let more = false;
    for (;;) {
      if (closed) break;
      const page = (await candidates(after)).map((c) => ({ appId: c.app_id, conversationId: c.id }));
      if (page.length > 0) {
        const erased = await store.transaction(async (tx) => {
          // Lock order step 1: the conversations first, so no send or recall changes them under the sweep.
          await store.lockConversations(tx, page);
          let n = 0;
          for (const ref of page) {
            const done = await expireConversation(tx, ref, now);
            n += done.erased;
            more ||= done.more;
          }
          return n;
        });
        if (erased > 0) options.onExpired?.(erased);
        total += erased;
      }
      if (page.length === perTransaction) after = page.at(-1);
      else if (more) [after, more] = [undefined, false];
      else break;
      // Let queued writes run between transactions.
      await new Promise((resolve) => setImmediate(resolve));
    }
    if (total > 0) {
      // The erased bodies must not survive in the database files either (as after a recall).
      await store.scrub();
      logger.info({ expired: total }, 'expired messages erased');
    }
    return total;
  }

  function sweep(): Promise<number> {
    running ??= pass().finally(() => (running = undefined));
    return running;
  }

  const timer =
    options.intervalMs > 0
      ? setInterval(() => {
          sweep().catch((err: unknown) => logger.error({ err }, 'message expiry sweep failed'));
        }, options.intervalMs)
      : undefined;
  timer?.unref();

  return {
    sweep,
    async close() {
      closed = true;
      clearInterval(timer);
      await running?.catch(() => undefined);
    },
  };
}
