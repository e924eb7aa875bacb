// Where a batch's new items go: the direct conversations of `to` items (found, or created in the batch's
// transaction) and the membership of `conversationId` items' senders — a few set-based queries per batch.
import { directKey, type Conversations } from '../conversations/conversations.js';
import type { Tx } from '../store/store.js';
import { failure, type BatchItem, type Slot } from './item-outcomes.js';

/** Finds or creates the direct conversations of `to` items, and checks `conversationId` items' senders. */
export async function resolveTargets(
  tx: Tx,
  conversations: Conversations,
  appId: string,
  items: BatchItem[],
  slots: Slot[],
): Promise<void> {
  const open = () => slots.flatMap((s, i) => (s.state === 'new' ? [{ s, item: items[i]!, i }] : []));
  const direct = open().filter(({ item }) => item.to !== undefined);
  if (direct.length > 0) {
    const keys = [...new Set(direct.map(({ item }) => directKey(item.from, item.to!)))];
    const found = await tx
      .selectFrom('conversations')
      .select(['id', 'direct_key'])
      .where('app_id', '=', appId)
      .where('direct_key', 'in', keys)
      .execute();
    const byKey = new Map(found.map((c) => [c.direct_key!, c.id]));
    const missingUsers = new Set<string>();
    const unresolved = direct.filter(({ item }) => !byKey.has(directKey(item.from, item.to!)));
    if (unresolved.length > 0) {
      const wanted = [...new Set(unresolved.flatMap(({ item }) => [item.from, item.to!]))];
      const users = await tx
        .selectFrom('users')
        .select('id')
        .where('app_id', '=', appId)
        .where('id', 'in', wanted)
        .execute();
      const known = new Set(users.map((u) => u.id));
      for (const u of wanted) if (!known.has(u)) missingUsers.add(u);
    }
    for (const { item, i } of direct) {
      const key = directKey(item.from, item.to!);
      let id = byKey.get(key);
      if (!id) {
        const missing = [item.from, item.to!].filter((u) => missingUsers.has(u));
        if (missing.length > 0) {
          slots[i] = failure('user_not_found', `unknown users: ${missing.join(', ')}`);
          continue;
        }
        // First message of a pair: the conversation is created in this transaction (rolled back with it).
        id = await conversations.ensureDirect(appId, item.from, item.to!, tx);
        byKey.set(key, id);
      }
      const slot = slots[i] as Extract<Slot, { state: 'new' }>;
      slot.conversationId = id;
    }
  }

  const named = open().filter(({ item }) => item.conversationId !== undefined);
  if (named.length === 0) return;
  const convIds = [...new Set(named.map(({ item }) => item.conversationId!))];
  const senders = [...new Set(named.map(({ item }) => item.from))];
  const convs = await tx
    .selectFrom('conversations')
    .select('id')
    .where('app_id', '=', appId)
    .where('id', 'in', convIds)
    .execute();
  const members = await tx
    .selectFrom('members')
    .select(['conversation_id', 'user_id'])
    .where('app_id', '=', appId)
    .where('conversation_id', 'in', convIds)
    .where('user_id', 'in', senders)
    .where('left_pos', 'is', null)
    .execute();
  const existing = new Set(convs.map((c) => c.id));
  const membership = new Set(members.map((m) => `${m.conversation_id}\n${m.user_id}`));
  for (const { s, item, i } of named) {
    const conv = item.conversationId!;
    if (!existing.has(conv))
      slots[i] = failure('conversation_not_found', `conversation ${conv} does not exist`);
    else if (!membership.has(`${conv}\n${item.from}`))
      slots[i] = failure('not_member', `${item.from} is not a member of conversation ${conv}`);
    else (s as Extract<Slot, { state: 'new' }>).conversationId = conv;
  }
}
