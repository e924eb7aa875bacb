// Who may write where, for a whole group of sends in one statement: each (app, conversation, sender) is
// checked against the conversation (it exists) and the sender's current membership, and each conversation's
// last seq is read — stable until commit, since the writer holds the conversation rows (or the one writer).
import { sql } from 'kysely';
import { OncelyError } from '../errors.js';
import { preparedRowsQuery } from '../store/prepared-query.js';
import type { Tx } from '../store/store.js';

export interface SendTarget {
  appId: string;
  conversationId: string;
  senderId: string;
}

export interface Access {
  /** Per target, in order: null when its sender may write to its conversation, else the refusal. */
  refusals: Array<OncelyError | null>;
  /** The last seq of each existing conversation, by `${appId}\n${conversationId}`. */
  lastSeq: Map<string, number>;
}

/** Triples per statement: three bound parameters each. */
const chunkSize = 1000;

// Joined with a VALUES list of the exact triples: one lookup each, where `in` lists of apps, conversations
// and senders would look up every combination.
const accessQuery = preparedRowsQuery(
  ['appId', 'conversationId', 'senderId'] as const,
  [] as const,
  (_db, rows) =>
    sql<{
      app_id: string;
      conversation_id: string;
      sender_id: string;
      last_seq: number | null;
      member: string | null;
    }>`
    select v.column1 as app_id, v.column2 as conversation_id, v.column3 as sender_id,
      c.last_seq as last_seq, m.user_id as member
    from (values ${sql.join(rows.map((r) => sql`(${r.appId}, ${r.conversationId}, ${r.senderId})`))}) as v
    left join conversations as c on c.app_id = v.column1 and c.id = v.column2
    left join members as m on m.app_id = v.column1 and m.conversation_id = v.column2
      and m.user_id = v.column3 and m.left_pos is null`,
);

const tripleOf = (t: SendTarget) => `${t.appId}\n${t.conversationId}\n${t.senderId}`;

export async function checkAccess(tx: Tx, targets: SendTarget[]): Promise<Access> {
  // Each target's triple made once: a batch names the same few thousand times.
  const triples = targets.map(tripleOf);
  const distinct = [...new Map(targets.map((t, i) => [triples[i]!, t])).values()];
  const members = new Set<string>();
  const lastSeq = new Map<string, number>();
  for (let i = 0; i < distinct.length; i += chunkSize) {
    const { rows } = await accessQuery(tx, distinct.slice(i, i + chunkSize));
    for (const r of rows) {
      if (r.last_seq === null) continue;
      lastSeq.set(`${r.app_id}\n${r.conversation_id}`, Number(r.last_seq));
      if (r.member !== null) members.add(`${r.app_id}\n${r.conversation_id}\n${r.sender_id}`);
    }
  }
  const refusals = targets.map((t, i) => {
    if (members.has(triples[i]!)) return null;
    if (!lastSeq.has(`${t.appId}\n${t.conversationId}`))
      return OncelyError.of('conversation_not_found', `conversation ${t.conversationId} does not exist`);
    return OncelyError.of('not_member', `${t.senderId} is not a member of conversation ${t.conversationId}`);
  });
  return { refusals, lastSeq };
}
