// Migration 0012: where the database stores a table's rows in the order of an integer key of its own (SQLite's
// rowid), the events table is rebuilt keyed by its stream position: new events append at the end of the table
// itself, and the separate position index (one more B-tree written per event) goes.
import type { Kysely, Migration } from 'kysely';
import { readIndexes } from './0003-read-indexes.js';
import type { SchemaCapabilities } from './index.js';

const columns = [
  'id',
  'app_id',
  'conversation_id',
  'seq',
  'pos',
  'type',
  'sender_id',
  'body',
  'client_msg_id',
  'subject_id',
  'created_at',
  'recalled_at',
  'expired_at',
] as const;

export function eventsByPosition(capabilities: SchemaCapabilities): Migration {
  return {
    async up(db: Kysely<unknown>) {
      // PostgreSQL keeps every row in a heap beside its indexes: a primary key on `pos` would be the same
      // index as events_pos under another name, and the rebuild would copy every event for nothing.
      if (!capabilities.integerKeyStoresRows) return;
      // One transaction (SQLite's DDL is transactional, though its migrations run without one): a crash
      // leaves the old table whole, and the migration runs again at the next start.
      await db.transaction().execute(async (tx) => {
        await tx.schema
          .createTable('events_by_pos')
          .addColumn('id', 'text', (c) => c.notNull())
          .addColumn('app_id', 'text', (c) => c.notNull())
          .addColumn('conversation_id', 'text', (c) => c.notNull())
          .addColumn('seq', 'bigint', (c) => c.notNull())
          // Exactly `integer primary key`: SQLite then makes the column the rowid itself.
          .addColumn('pos', 'integer', (c) => c.primaryKey())
          .addColumn('type', 'text', (c) => c.notNull())
          .addColumn('sender_id', 'text')
          .addColumn('body', 'text')
          .addColumn('client_msg_id', 'text')
          .addColumn('subject_id', 'text')
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addColumn('recalled_at', 'bigint')
          .addColumn('expired_at', 'bigint')
          .execute();
        const from = tx as unknown as Kysely<Record<string, Record<(typeof columns)[number], unknown>>>;
        await from
          .insertInto('events_by_pos')
          .columns(columns)
          .expression(from.selectFrom('events').select(columns).orderBy('pos'))
          .execute();
        await tx.schema.dropTable('events').execute();
        await tx.schema.alterTable('events_by_pos').renameTo('events').execute();
        // The indexes of migrations 0001 and 0003, but events_pos (the table's own key now). The id was the
        // primary key: a message by id (history, recall) reads by this one.
        await tx.schema.createIndex('events_id').on('events').column('id').unique().execute();
        // Invariant 3: one event per (conversation, seq); history pages by this index.
        await tx.schema
          .createIndex('events_conversation_seq')
          .on('events')
          .columns(['app_id', 'conversation_id', 'seq'])
          .unique()
          .execute();
        // The stream of a user reads each of its conversations after a position.
        await tx.schema
          .createIndex('events_conversation_pos')
          .on('events')
          .columns(['app_id', 'conversation_id', 'pos'])
          .execute();
        // The unread-count indexes, as migration 0003 made them.
        await readIndexes.up(tx);
      });
    },
  };
}
