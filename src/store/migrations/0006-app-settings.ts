// Migration 0006: an app's settings. `users_create_conversations`: whether its users may start conversations
// themselves (POST /v1/me/conversations); on unless the app turns it off.
import type { Kysely, Migration } from 'kysely';

export const appSettings: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .alterTable('apps')
      .addColumn('users_create_conversations', 'integer', (c) => c.notNull().defaultTo(1))
      .execute();
  },
};
