// Retention: deletes expired idempotency records in small batches, one short transaction each,
// so writers are never stalled behind one long delete.
import type { Clock } from '../clock.js';
import type { Kysely } from 'kysely';
import type { Database } from '../store/schema.js';
import type { Store } from '../store/store.js';
import type { Logger } from '../observability/logger.js';

export interface SweeperOptions {
  store: Store;
  clock: Clock;
  logger: Logger;
  intervalMs: number;
  batchSize: number;
}

export interface Sweeper {
  /** One full pass: deletes every record expired now; returns how many. */
  sweep(): Promise<number>;
  close(): Promise<void>;
}

/** The next batch of expired records, oldest expiry first, by the expiry index. */
export const expiredKeysQuery = (db: Kysely<Database>, now: number, limit: number) =>
  db
    .selectFrom('idempotency_keys')
    .select(['app_id', 'scope', 'key'])
    .where('expires_at', '<=', now)
    .orderBy('expires_at')
    .limit(limit);

export function createSweeper({ store, clock, logger, intervalMs, batchSize }: SweeperOptions): Sweeper {
  let running: Promise<number> | undefined;
  let closed = false;

  async function sweepOnce(): Promise<number> {
    let total = 0;
    const now = clock.now();
    for (;;) {
      if (closed) break;
      const expired = await expiredKeysQuery(store.db, now, batchSize).execute();
      if (expired.length === 0) break;
      await store.transaction(async (tx) => {
        for (const row of expired) {
          await tx
            .deleteFrom('idempotency_keys')
            .where('app_id', '=', row.app_id)
            .where('scope', '=', row.scope)
            .where('key', '=', row.key)
            .where('expires_at', '<=', now)
            .execute();
        }
      });
      total += expired.length;
      if (expired.length < batchSize) break;
      // Let queued writes run between batches.
      await new Promise((resolve) => setImmediate(resolve));
    }
    if (total > 0) logger.info({ deleted: total }, 'expired idempotency keys swept');
    return total;
  }

  function sweep(): Promise<number> {
    running ??= sweepOnce().finally(() => (running = undefined));
    return running;
  }

  const timer = setInterval(() => {
    sweep().catch((err: unknown) => logger.error({ err }, 'idempotency sweep failed'));
  }, intervalMs);
  timer.unref();

  return {
    sweep,
    async close() {
      closed = true;
      clearInterval(timer);
      await running?.catch(() => undefined);
    },
  };
}
