// A user's conversation list (`GET /v1/me/conversations`): her current conversations with their members,
// markers, last message and unread count, in two statements whatever her number of conversations.
//
// Unread counts are derived, not counted over the unread events nor kept per member. A member's unread is
// the messages after her read marker that are not her own and not recalled. Seqs are gapless (invariant 3),
// so `lastSeq − readSeq` events follow the marker; from that, two index counts subtract exactly the ones
// that do not count: the member, recall and recalled-message events (an index holds only those, so it stays
// small) and her own live messages (an index by sender). A list therefore costs O(log n + those few) per
// conversation, however many messages she has not read. The other ways were worse: counting the unread
// events cost O(unread) per conversation per request (479 ms for a member of 50 busy groups); keeping a
// count per member means a write per member per message (seed 004's flaw) and fixing counts on every
// recall; a capped count ("99+") still reads 100 rows per busy conversation and loses the number.
import { sql, type Kysely } from 'kysely';
import type { Database, EventType } from '../store/schema.js';
import { toWireEvent, type WireEvent } from './events.js';
import type { ExpiryRule } from './expiry-rule.js';

export interface ConversationSummary {
  id: string;
  kind: 'direct' | 'group';
  title: string | null;
  members: string[];
  lastSeq: number;
  deliveredSeq: number;
  readSeq: number;
  unread: number;
  lastMessage: WireEvent | null;
  /** Seconds a message is kept before its body is erased; 0: forever. */
  retentionSeconds: number;
}

const message = sql.lit<EventType>('message.created');

/** The hot reads of the list, as queries (their plans are asserted in test/query-plans.test.ts). */
export const conversationListQueries = {
  /** The user's current conversations, each with its unread corrections and its last message. */
  conversations: (db: Kysely<Database>, appId: string, userId: string) =>
    db
      .selectFrom('members as m')
      .innerJoin('conversations as c', (j) =>
        j.onRef('c.app_id', '=', 'm.app_id').onRef('c.id', '=', 'm.conversation_id'),
      )
      // The last message: the newest message.created, found by walking the seq index back from the end.
      .leftJoin('events as l', (j) =>
        j
          .onRef('l.app_id', '=', 'm.app_id')
          .onRef('l.conversation_id', '=', 'm.conversation_id')
          .on('l.seq', '=', (eb) =>
            eb
              .selectFrom('events as x')
              .select('x.seq')
              .whereRef('x.app_id', '=', 'm.app_id')
              .whereRef('x.conversation_id', '=', 'm.conversation_id')
              .where('x.type', '=', message)
              .orderBy('x.seq', 'desc')
              .limit(1),
          ),
      )
      .select([
        'c.id',
        'c.kind',
        'c.title',
        'c.last_seq',
        'c.created_at',
        'c.retention_seconds',
        'm.read_seq',
        'm.delivered_seq',
      ])
      .select((eb) => [
        // The terms repeat the partial indexes' conditions word for word (with literals), so the planner
        // can tell that those indexes hold every row the count needs.
        eb
          .selectFrom('events as u')
          .select((x) => x.fn.countAll<number>().as('n'))
          .whereRef('u.app_id', '=', 'm.app_id')
          .whereRef('u.conversation_id', '=', 'm.conversation_id')
          .whereRef('u.seq', '>', 'm.read_seq')
          .where((x) => x.or([x('u.type', '<>', message), x('u.recalled_at', 'is not', null)]))
          .as('uncounted'),
        eb
          .selectFrom('events as o')
          .select((x) => x.fn.countAll<number>().as('n'))
          .whereRef('o.app_id', '=', 'm.app_id')
          .whereRef('o.conversation_id', '=', 'm.conversation_id')
          .whereRef('o.sender_id', '=', 'm.user_id')
          .whereRef('o.seq', '>', 'm.read_seq')
          .where('o.type', '=', message)
          .where('o.recalled_at', 'is', null)
          .as('own'),
      ])
      .select([
        'l.id as l_id',
        'l.type as l_type',
        'l.seq as l_seq',
        'l.pos as l_pos',
        'l.sender_id as l_sender_id',
        'l.body as l_body',
        'l.client_msg_id as l_client_msg_id',
        'l.subject_id as l_subject_id',
        'l.created_at as l_created_at',
        'l.recalled_at as l_recalled_at',
        'l.expired_at as l_expired_at',
      ])
      .where('m.app_id', '=', appId)
      .where('m.user_id', '=', userId)
      .where('m.left_pos', 'is', null),

  /** The current members of the listed conversations. */
  members: (db: Kysely<Database>, appId: string, conversationIds: string[]) =>
    db
      .selectFrom('members')
      .select(['conversation_id', 'user_id', 'joined_pos'])
      .where('app_id', '=', appId)
      .where('conversation_id', 'in', conversationIds)
      .where('left_pos', 'is', null),
};

/** The user's current conversations, oldest first. */
export async function listForUser(
  db: Kysely<Database>,
  appId: string,
  userId: string,
  expiry: ExpiryRule,
): Promise<ConversationSummary[]> {
  const convs = await conversationListQueries.conversations(db, appId, userId).execute();
  if (convs.length === 0) return [];
  const members = await conversationListQueries
    .members(
      db,
      appId,
      convs.map((c) => c.id),
    )
    .execute();
  // Sorted here rather than in SQL: the sets are the user's own, and the plans stay free of sorts.
  members.sort((a, b) => Number(a.joined_pos) - Number(b.joined_pos) || (a.user_id < b.user_id ? -1 : 1));
  const membersOf = new Map<string, string[]>();
  for (const m of members) {
    const list = membersOf.get(m.conversation_id);
    if (list) list.push(m.user_id);
    else membersOf.set(m.conversation_id, [m.user_id]);
  }
  convs.sort((a, b) => Number(a.created_at) - Number(b.created_at) || (a.id < b.id ? -1 : 1));
  return convs.map((c) => {
    const lastSeq = Number(c.last_seq);
    const readSeq = Number(c.read_seq);
    const retentionSeconds = expiry.secondsOf(c.retention_seconds);
    return {
      id: c.id,
      kind: c.kind,
      title: c.title,
      members: membersOf.get(c.id) ?? [],
      lastSeq,
      deliveredSeq: Number(c.delivered_seq),
      readSeq,
      unread: lastSeq - readSeq - Number(c.uncounted) - Number(c.own),
      retentionSeconds,
      lastMessage:
        c.l_id === null
          ? null
          : expiry.apply(
              toWireEvent({
                id: c.l_id,
                app_id: appId,
                conversation_id: c.id,
                type: c.l_type!,
                seq: c.l_seq!,
                pos: c.l_pos!,
                sender_id: c.l_sender_id,
                body: c.l_body,
                client_msg_id: c.l_client_msg_id,
                subject_id: c.l_subject_id,
                created_at: c.l_created_at!,
                recalled_at: c.l_recalled_at,
                expired_at: c.l_expired_at,
              }),
              retentionSeconds,
            ),
    };
  });
}
