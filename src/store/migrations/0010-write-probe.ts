// Migration 0010: one row that readiness rewrites while the store cannot write (a full disk), with a body the
// size of a large message, so that "ready again" means a send would fit — not just a one-page write.
import type { Kysely, Migration } from 'kysely';

export const writeProbe: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .createTable('write_probe')
      .addColumn('id', 'integer', (c) => c.primaryKey())
      .addColumn('filler', 'text', (c) => c.notNull())
      .addColumn('written_at', 'bigint', (c) => c.notNull())
      .execute();
  },
};
