// Migration 0001: apps, users, conversations, members, events, idempotency keys and the stream counter.
import type { Kysely, Migration } from 'kysely';

export const core: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .createTable('apps')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('token_secret', 'text', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema
      .createTable('api_keys')
      .addColumn('key_hash', 'text', (c) => c.primaryKey())
      .addColumn('app_id', 'text', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema
      .createTable('users')
      .addColumn('app_id', 'text', (c) => c.notNull())
      .addColumn('id', 'text', (c) => c.notNull())
      .addColumn('display_name', 'text')
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('updated_at', 'bigint', (c) => c.notNull())
      .addPrimaryKeyConstraint('users_pk', ['app_id', 'id'])
      .execute();
    await db.schema
      .createTable('conversations')
      .addColumn('app_id', 'text', (c) => c.notNull())
      .addColumn('id', 'text', (c) => c.notNull())
      .addColumn('kind', 'text', (c) => c.notNull())
      .addColumn('title', 'text')
      .addColumn('direct_key', 'text')
      .addColumn('last_seq', 'bigint', (c) => c.notNull().defaultTo(0))
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addPrimaryKeyConstraint('conversations_pk', ['app_id', 'id'])
      .execute();
    // A direct pair exists once per app, even when two creates race.
    await db.schema
      .createIndex('conversations_direct_key')
      .on('conversations')
      .columns(['app_id', 'direct_key'])
      .unique()
      .execute();
    await db.schema
      .createTable('members')
      .addColumn('app_id', 'text', (c) => c.notNull())
      .addColumn('conversation_id', 'text', (c) => c.notNull())
      .addColumn('user_id', 'text', (c) => c.notNull())
      .addColumn('role', 'text', (c) => c.notNull())
      .addColumn('delivered_seq', 'bigint', (c) => c.notNull().defaultTo(0))
      .addColumn('read_seq', 'bigint', (c) => c.notNull().defaultTo(0))
      .addColumn('joined_pos', 'bigint', (c) => c.notNull())
      .addColumn('left_pos', 'bigint')
      .addColumn('joined_at', 'bigint', (c) => c.notNull())
      .addPrimaryKeyConstraint('members_pk', ['app_id', 'conversation_id', 'user_id'])
      .execute();
    // me/conversations and the per-user stream start from the user's memberships.
    await db.schema.createIndex('members_by_user').on('members').columns(['app_id', 'user_id']).execute();
    await db.schema
      .createTable('events')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('app_id', 'text', (c) => c.notNull())
      .addColumn('conversation_id', 'text', (c) => c.notNull())
      .addColumn('seq', 'bigint', (c) => c.notNull())
      .addColumn('pos', 'bigint', (c) => c.notNull())
      .addColumn('type', 'text', (c) => c.notNull())
      .addColumn('sender_id', 'text')
      .addColumn('body', 'text')
      .addColumn('client_msg_id', 'text')
      .addColumn('subject_id', 'text')
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('recalled_at', 'bigint')
      .execute();
    // Invariant 3: one event per (conversation, seq); history pages by this index.
    await db.schema
      .createIndex('events_conversation_seq')
      .on('events')
      .columns(['app_id', 'conversation_id', 'seq'])
      .unique()
      .execute();
    await db.schema.createIndex('events_pos').on('events').column('pos').unique().execute();
    // The stream of a user reads each of its conversations after a position.
    await db.schema
      .createIndex('events_conversation_pos')
      .on('events')
      .columns(['app_id', 'conversation_id', 'pos'])
      .execute();
    await db.schema
      .createTable('idempotency_keys')
      .addColumn('app_id', 'text', (c) => c.notNull())
      .addColumn('scope', 'text', (c) => c.notNull())
      .addColumn('key', 'text', (c) => c.notNull())
      .addColumn('fingerprint', 'text', (c) => c.notNull())
      .addColumn('result', 'text', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('expires_at', 'bigint', (c) => c.notNull())
      .addPrimaryKeyConstraint('idempotency_keys_pk', ['app_id', 'scope', 'key'])
      .execute();
    // The retention sweeper walks this index in small batches.
    await db.schema
      .createIndex('idempotency_keys_expiry')
      .on('idempotency_keys')
      .column('expires_at')
      .execute();
    await db.schema
      .createTable('counters')
      .addColumn('name', 'text', (c) => c.primaryKey())
      .addColumn('value', 'bigint', (c) => c.notNull())
      .execute();
    await (db as Kysely<{ counters: { name: string; value: number } }>)
      .insertInto('counters')
      .values({ name: 'pos', value: 0 })
      .execute();
  },
};
