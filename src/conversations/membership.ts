// Membership checks: invariant 4, every read and write of a conversation by a user goes through here.
import { forbidden, notFound } from '../errors.js';
import type { MembersTable } from '../store/schema.js';
import type { Store, Tx } from '../store/store.js';

/** The conversation must exist in the app. */
export async function requireConversation(db: Store['db'] | Tx, appId: string, conversationId: string) {
  const conv = await db
    .selectFrom('conversations')
    .selectAll()
    .where('app_id', '=', appId)
    .where('id', '=', conversationId)
    .executeTakeFirst();
  if (!conv) throw notFound('conversation_not_found', `conversation ${conversationId} does not exist`);
  return conv;
}

/** The user must be a current member of the conversation. */
export async function requireMember(
  db: Store['db'] | Tx,
  appId: string,
  conversationId: string,
  userId: string,
): Promise<MembersTable> {
  await requireConversation(db, appId, conversationId);
  const member = await db
    .selectFrom('members')
    .selectAll()
    .where('app_id', '=', appId)
    .where('conversation_id', '=', conversationId)
    .where('user_id', '=', userId)
    .where('left_pos', 'is', null)
    .executeTakeFirst();
  if (!member) throw forbidden('not_member', `you are not a member of conversation ${conversationId}`);
  return member;
}

/** Current member ids of a conversation, in join order. */
export async function memberIds(
  db: Store['db'] | Tx,
  appId: string,
  conversationId: string,
): Promise<string[]> {
  const rows = await db
    .selectFrom('members')
    .select('user_id')
    .where('app_id', '=', appId)
    .where('conversation_id', '=', conversationId)
    .where('left_pos', 'is', null)
    .orderBy('joined_pos')
    .orderBy('user_id')
    .execute();
  return rows.map((r) => r.user_id);
}
