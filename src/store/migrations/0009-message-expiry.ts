// Migration 0009: message expiry. A conversation may carry its own retention (null: the deployment's
// default), and a watermark of how far its messages have been expired; an expired message keeps its row
// (seq stays gapless) with its body erased and the time it expired.
import type { Kysely, Migration } from 'kysely';

export const messageExpiry: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema.alterTable('conversations').addColumn('retention_seconds', 'bigint').execute();
    await db.schema
      .alterTable('conversations')
      .addColumn('expired_seq', 'bigint', (c) => c.notNull().defaultTo(0))
      .execute();
    await db.schema.alterTable('events').addColumn('expired_at', 'bigint').execute();
  },
};
