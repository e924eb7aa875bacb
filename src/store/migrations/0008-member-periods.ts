// Migration 0008: every period a user was a member of a conversation, by seq, so that history, a message by
// id and a message's recipients follow membership over time (a re-added member does not read what was sent
// while it was out). `members` keeps one row per member (markers, current span); this table keeps them all.
import { sql, type Kysely, type Migration } from 'kysely';

export const memberPeriods: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .createTable('member_periods')
      .addColumn('app_id', 'text', (c) => c.notNull())
      .addColumn('conversation_id', 'text', (c) => c.notNull())
      .addColumn('user_id', 'text', (c) => c.notNull())
      .addColumn('from_seq', 'bigint', (c) => c.notNull())
      .addColumn('to_seq', 'bigint')
      .addPrimaryKeyConstraint('member_periods_pk', ['app_id', 'conversation_id', 'user_id', 'from_seq'])
      .execute();
    // Each member's latest period, from the row that records it: founding members (position 0) from the
    // start, others from the seq of the event that added them, to the seq of the one that removed them.
    // Earlier periods of members removed and re-added before this migration are not recoverable from that
    // row; such members read from their latest joining on, never more than they were entitled to.
    await sql`
      insert into member_periods (app_id, conversation_id, user_id, from_seq, to_seq)
      select m.app_id, m.conversation_id, m.user_id,
        coalesce((select e.seq from events e where e.pos = m.joined_pos), 0),
        (select e.seq from events e where e.pos = m.left_pos)
      from members m`.execute(db);
  },
};
