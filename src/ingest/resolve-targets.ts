// Where `to` items go: the direct conversation of `from` and `to`, found — or created in the items'
// transaction (rolled back with it) — with a fixed number of set-based queries for the whole list.
import { directKey, type Conversations } from '../conversations/conversations.js';
import type { Tx } from '../store/store.js';
import { failure, type Item, type Slot } from './item-slots.js';

/** Sets the conversation of every new `to` item, or fails it with `user_not_found`. */
export async function resolveDirectTargets(
  tx: Tx,
  conversations: Conversations,
  appId: string,
  /** Per slot, its item (undefined where the entry could not be read as one). */
  items: Array<Item | undefined>,
  slots: Slot[],
): Promise<void> {
  const direct = slots.flatMap((s, i) => {
    const item = items[i];
    return s.state === 'new' && item?.to !== undefined ? [{ s, item, i }] : [];
  });
  if (direct.length === 0) return;
  const keys = [...new Set(direct.map(({ item }) => directKey(item.from, item.to!)))];
  const found = await tx
    .selectFrom('conversations')
    .select(['id', 'direct_key'])
    .where('app_id', '=', appId)
    .where('direct_key', 'in', keys)
    .execute();
  const byKey = new Map(found.map((c) => [c.direct_key!, c.id]));
  const unresolved = direct.filter(({ item }) => !byKey.has(directKey(item.from, item.to!)));
  const missingUsers = new Set<string>();
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
  // New pairs are created in direct-key order, so that two lists creating the same pairs lock them alike.
  const ordered = [...direct].sort((a, b) => {
    const x = directKey(a.item.from, a.item.to!);
    const y = directKey(b.item.from, b.item.to!);
    return x < y ? -1 : x > y ? 1 : 0;
  });
  for (const { s, item, i } of ordered) {
    const key = directKey(item.from, item.to!);
    let id = byKey.get(key);
    if (!id) {
      const missing = [item.from, item.to!].filter((u) => missingUsers.has(u));
      if (missing.length > 0) {
        slots[i] = failure('user_not_found', `unknown users: ${missing.join(', ')}`);
        continue;
      }
      // First message of a pair: the conversation is created in this transaction.
      id = await conversations.ensureDirect(appId, item.from, item.to!, tx);
      byKey.set(key, id);
    }
    (s as Extract<Slot, { state: 'new' }>).cmd.conversationId = id;
  }
}
