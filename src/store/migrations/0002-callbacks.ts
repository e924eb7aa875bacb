// Migration 0002: inbound callback sources and the payloads they had refused.
import type { Kysely, Migration } from 'kysely';

export const callbacks: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .createTable('callback_sources')
      .addColumn('app_id', 'text', (c) => c.notNull())
      .addColumn('id', 'text', (c) => c.notNull())
      .addColumn('format', 'text', (c) => c.notNull())
      .addColumn('secrets', 'text', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('updated_at', 'bigint', (c) => c.notNull())
      .addPrimaryKeyConstraint('callback_sources_pk', ['app_id', 'id'])
      .execute();
    await db.schema
      .createTable('callback_rejections')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('app_id', 'text', (c) => c.notNull())
      .addColumn('source_id', 'text', (c) => c.notNull())
      .addColumn('reason', 'text', (c) => c.notNull())
      .addColumn('message', 'text', (c) => c.notNull())
      .addColumn('msg_id', 'text')
      .addColumn('message_id', 'text')
      .addColumn('payload', 'text', (c) => c.notNull())
      .addColumn('received_at', 'bigint', (c) => c.notNull())
      .execute();
    // Listing and trimming walk one source's rejections by id (time-ordered).
    await db.schema
      .createIndex('callback_rejections_by_source')
      .on('callback_rejections')
      .columns(['app_id', 'source_id', 'id'])
      .execute();
  },
};
