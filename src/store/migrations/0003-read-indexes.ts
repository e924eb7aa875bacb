// Migration 0003: indexes for reads whose cost must follow the reader's data, not the app's history.
import { sql, type Kysely, type Migration } from 'kysely';

export const readIndexes: Migration = {
  async up(db: Kysely<unknown>) {
    // Unread counts (conversations.ts): a member's own live messages after her read marker …
    await db.schema
      .createIndex('events_live_by_sender')
      .on('events')
      .columns(['app_id', 'conversation_id', 'sender_id', 'seq'])
      .where(sql.ref('type'), '=', 'message.created')
      .where(sql.ref('recalled_at'), 'is', null)
      .execute();
    // … and the events that never count as unread (member and recall events, recalled messages): few.
    await db.schema
      .createIndex('events_uncounted')
      .on('events')
      .columns(['app_id', 'conversation_id', 'seq'])
      .where((eb) =>
        eb.or([eb(sql.ref('type'), '<>', 'message.created'), eb(sql.ref('recalled_at'), 'is not', null)]),
      )
      .execute();
  },
};
