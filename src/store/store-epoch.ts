// The store's epoch (migration 0007): a random name of this database, carried by every cursor it issues.
// A cursor is a position in one database's stream; the epoch says which database, so a cursor of another
// one — or of this one before a restore put older data back — is refused instead of skipping events.
import { randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Database } from './schema.js';

export async function readEpoch(db: Kysely<Database>): Promise<string> {
  const row = await db
    .selectFrom('store_meta')
    .select('value')
    .where('name', '=', 'epoch')
    .executeTakeFirstOrThrow();
  return row.value;
}

/**
 * Gives the database a new epoch, so every cursor issued before is refused (`400 invalid_cursor`, the
 * client starts over). For a restored copy: its stream ends where the backup was taken, and cursors that
 * devices hold from later would otherwise pass for positions the restored database reaches again with
 * other events. Instances cache the epoch at start: restart them after renewing it.
 */
export async function renewEpoch(db: Kysely<Database>): Promise<string> {
  const value = randomBytes(8).toString('base64url');
  await db.updateTable('store_meta').set({ value }).where('name', '=', 'epoch').execute();
  return value;
}
