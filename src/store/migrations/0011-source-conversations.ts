// Migration 0011: the conversations each callback source may change the membership of — those it created
// on first sight, and those an app opened to it. A callback adding someone anywhere else is refused.
import type { Kysely, Migration } from 'kysely';

export const sourceConversations: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .createTable('source_conversations')
      .addColumn('app_id', 'text', (c) => c.notNull())
      .addColumn('conversation_id', 'text', (c) => c.notNull())
      .addColumn('source_id', 'text', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addPrimaryKeyConstraint('source_conversations_pk', ['app_id', 'conversation_id', 'source_id'])
      .execute();
  },
};
