// Migration 0007: the store's epoch, a random name written once when the database is created (or first
// upgraded to this version). Cursors carry it, so a cursor of another database, or of this one before a
// restore (a restore renews it: store-epoch.ts), is refused rather than read as a position here.
import { randomBytes } from 'node:crypto';
import type { Kysely, Migration } from 'kysely';

export const storeEpoch: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .createTable('store_meta')
      .addColumn('name', 'text', (c) => c.primaryKey())
      .addColumn('value', 'text', (c) => c.notNull())
      .execute();
    await (db as Kysely<{ store_meta: { name: string; value: string } }>)
      .insertInto('store_meta')
      .values({ name: 'epoch', value: randomBytes(8).toString('base64url') })
      .execute();
  },
};
