// Migration 0014: the user's stream reads each conversation by seq (a position bound turned into a seq bound by
// a search over events_conversation_seq), so the index of events by (app, conversation, position) goes: one
// B-tree fewer written per event, and the one whose leaves each group commit scattered most.
import type { Kysely, Migration } from 'kysely';

export const streamBySeq: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema.dropIndex('events_conversation_pos').ifExists().execute();
  },
};
