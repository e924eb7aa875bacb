// Membership checks: invariant 4, every read and write of a conversation by a user goes through here.
import { OncelyError } from '../errors.js';
import type { Actor } from '../apps/principal.js';
import type { ConversationsTable, MembersTable } from '../store/schema.js';
import type { Store, Tx } from '../store/store.js';

/** The conversation must exist in the app. */
export async function requireConversation(
  db: Store['db'] | Tx,
  appId: string,
  conversationId: string,
): Promise<ConversationsTable> {
  const conv = await db
    .selectFrom('conversations')
    .selectAll()
    .where('app_id', '=', appId)
    .where('id', '=', conversationId)
    .executeTakeFirst();
  if (!conv) throw OncelyError.of('conversation_not_found', `conversation ${conversationId} does not exist`);
  return conv;
}

/** The user's current membership row, or undefined (never a member, or removed). */
export async function findMember(
  db: Store['db'] | Tx,
  appId: string,
  conversationId: string,
  userId: string,
): Promise<MembersTable | undefined> {
  return db
    .selectFrom('members')
    .selectAll()
    .where('app_id', '=', appId)
    .where('conversation_id', '=', conversationId)
    .where('user_id', '=', userId)
    .where('left_pos', 'is', null)
    .executeTakeFirst();
}

/** The conversation must exist and the user be a current member of it; returns both rows. */
export async function requireMembership(
  db: Store['db'] | Tx,
  appId: string,
  conversationId: string,
  userId: string,
): Promise<{ conversation: ConversationsTable; member: MembersTable }> {
  const conversation = await requireConversation(db, appId, conversationId);
  const member = await findMember(db, appId, conversationId, userId);
  if (!member) throw OncelyError.of('not_member', `you are not a member of conversation ${conversationId}`);
  return { conversation, member };
}

/** The user must be a current member of the conversation. */
export async function requireMember(
  db: Store['db'] | Tx,
  appId: string,
  conversationId: string,
  userId: string,
): Promise<MembersTable> {
  return (await requireMembership(db, appId, conversationId, userId)).member;
}

/** Who may read a conversation: its app, or a current member. Returns the conversation. */
export async function requireReadAccess(
  db: Store['db'] | Tx,
  actor: Actor,
  conversationId: string,
): Promise<ConversationsTable> {
  if (actor.kind === 'app') return requireConversation(db, actor.appId, conversationId);
  return (await requireMembership(db, actor.appId, conversationId, actor.userId)).conversation;
}

/** Current members of a conversation with their markers, in join order. */
export async function currentMembers(
  db: Store['db'] | Tx,
  appId: string,
  conversationId: string,
): Promise<Array<Pick<MembersTable, 'user_id' | 'delivered_seq' | 'read_seq'>>> {
  return db
    .selectFrom('members')
    .select(['user_id', 'delivered_seq', 'read_seq'])
    .where('app_id', '=', appId)
    .where('conversation_id', '=', conversationId)
    .where('left_pos', 'is', null)
    .orderBy('joined_pos')
    .orderBy('user_id')
    .execute();
}

/** Current member ids of a conversation, in join order. */
export async function memberIds(
  db: Store['db'] | Tx,
  appId: string,
  conversationId: string,
): Promise<string[]> {
  return (await currentMembers(db, appId, conversationId)).map((r) => r.user_id);
}
