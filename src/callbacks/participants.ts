// First sight of a callback's sender and receiver: their users, their direct conversation or the named group
// and its membership are created when missing. Every step is idempotent and race-safe across instances; what
// is known to exist is remembered, so a steady stream of callbacks costs no extra writes.
import type { Conversations } from '../conversations/conversations.js';
import { OncelyError } from '../errors.js';
import type { Store } from '../store/store.js';
import type { Clock } from '../clock.js';
import type { InboundMessage } from './payload-formats.js';

const cacheLimit = 50_000;

/** A set that forgets everything when it grows too big (users and memberships are never deleted). */
class KnownSet<V> extends Map<string, V> {
  remember(key: string, value: V): V {
    if (this.size >= cacheLimit) this.clear();
    this.set(key, value);
    return value;
  }
}

export function createParticipants({
  store,
  conversations,
  clock,
}: {
  store: Store;
  conversations: Conversations;
  clock: Clock;
}) {
  const knownUsers = new KnownSet<true>();
  const knownDirect = new KnownSet<string>();
  const knownMembers = new KnownSet<true>();

  async function ensureUsers(appId: string, userIds: string[]): Promise<void> {
    const missing = [...new Set(userIds)].filter((u) => !knownUsers.has(`${appId}\n${u}`));
    if (missing.length === 0) return;
    const now = clock.now();
    await store.db
      .insertInto('users')
      .values(
        missing.map((id) => ({ app_id: appId, id, display_name: null, created_at: now, updated_at: now })),
      )
      .onConflict((oc) => oc.columns(['app_id', 'id']).doNothing())
      .execute();
    for (const u of missing) knownUsers.remember(`${appId}\n${u}`, true);
  }

  async function ensureGroup(appId: string, groupId: string, members: string[]): Promise<void> {
    const missing = members.filter((m) => !knownMembers.has(`${appId}\n${groupId}\n${m}`));
    if (missing.length === 0) return;
    let current: string[];
    try {
      const created = await conversations.create(appId, { id: groupId, kind: 'group', members });
      current = created.conversation.members;
    } catch (err) {
      // The group exists (or a concurrent first sight just made it): add whoever is missing.
      if (!(err instanceof OncelyError) || err.code !== 'conversation_exists') throw err;
      const conv = await conversations.get({ kind: 'app', appId }, groupId);
      current = conv.members;
      const toAdd = missing.filter((m) => !current.includes(m));
      if (toAdd.length > 0) {
        if (conv.kind === 'direct') return; // ingest refuses a non-member with a clear error
        current = (await conversations.addMembers(appId, groupId, toAdd, null)).conversation.members;
      }
    }
    for (const m of current) knownMembers.remember(`${appId}\n${groupId}\n${m}`, true);
  }

  return {
    /** The message's conversation when its parties are all known to exist already; no query. */
    known(appId: string, msg: InboundMessage): string | undefined {
      if (msg.groupId) {
        const parties = msg.to ? [msg.from, msg.to] : [msg.from];
        return parties.every((m) => knownMembers.has(`${appId}\n${msg.groupId}\n${m}`))
          ? msg.groupId
          : undefined;
      }
      return knownDirect.get(`${appId}\n${[msg.from, msg.to!].sort().join('\n')}`);
    },

    /** Drops what is remembered about the message's parties, so that the next `ensure` checks again. */
    forget(appId: string, msg: InboundMessage): void {
      if (msg.groupId) {
        for (const m of [msg.from, msg.to]) if (m) knownMembers.delete(`${appId}\n${msg.groupId}\n${m}`);
      } else {
        knownDirect.delete(`${appId}\n${[msg.from, msg.to!].sort().join('\n')}`);
      }
    },

    /** Makes sure the message's parties exist; returns the conversation it lands in. */
    async ensure(appId: string, msg: InboundMessage): Promise<string> {
      const parties = msg.to ? [msg.from, msg.to] : [msg.from];
      await ensureUsers(appId, parties);
      if (msg.groupId) {
        await ensureGroup(appId, msg.groupId, parties);
        return msg.groupId;
      }
      const pair = `${appId}\n${[msg.from, msg.to!].sort().join('\n')}`;
      return (
        knownDirect.get(pair) ??
        knownDirect.remember(pair, await conversations.ensureDirect(appId, msg.from, msg.to!))
      );
    },
  };
}

export type Participants = ReturnType<typeof createParticipants>;
