// Migration 0005: the record of messages an application's consumer has applied, for the idempotent-consumer
// library's record-and-check strategy (src/consumers/idempotent-consumer.ts).
import type { Kysely, Migration } from 'kysely';

export const consumedMessages: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .createTable('consumed_messages')
      .addColumn('consumer', 'text', (c) => c.notNull())
      .addColumn('message_id', 'text', (c) => c.notNull())
      .addColumn('consumed_at', 'bigint', (c) => c.notNull())
      // The primary key is the check: a second insert of one (consumer, message) finds it taken.
      .addPrimaryKeyConstraint('consumed_messages_pk', ['consumer', 'message_id'])
      .execute();
    // Pruning walks one consumer's records by age.
    await db.schema
      .createIndex('consumed_messages_by_age')
      .on('consumed_messages')
      .columns(['consumer', 'consumed_at'])
      .execute();
  },
};
