// First sight of a callback's sender and receiver: their users, their direct conversation or the named group
// and its membership are created when missing, in the transaction that stores the message (so a first sight
// that loses its msgId to another leaves nothing, on any instance). What is known to exist is remembered, so
// a steady stream of callbacks costs no extra writes.
import type { Conversations } from '../conversations/conversations.js';
import { OncelyError } from '../errors.js';
import { memberIds } from '../conversations/membership.js';
import type { SendSetup } from '../ingest/ingest.js';
import type { Store, Tx } from '../store/store.js';
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

  /**
   * Inserts the users that may be missing, in `tx`, so that they exist only if the message that needs them
   * commits. In id order: two first sights naming the same users in turn never wait on each other in a cycle.
   */
  async function insertUsers(tx: Tx, appId: string, userIds: string[]): Promise<void> {
    const missing = [...new Set(userIds)].filter((u) => !knownUsers.has(`${appId}\n${u}`)).sort();
    if (missing.length === 0) return;
    const now = clock.now();
    await tx
      .insertInto('users')
      .values(
        missing.map((id) => ({ app_id: appId, id, display_name: null, created_at: now, updated_at: now })),
      )
      .onConflict((oc) => oc.columns(['app_id', 'id']).doNothing())
      .execute();
  }

  /**
   * Whether the source created the conversation or an app opened it to the source. Read each time (only a
   * party that is not a member yet asks), so that closing it applies at once on every instance.
   */
  async function isOpenTo(tx: Tx, appId: string, conversationId: string, sourceId: string) {
    const row = await tx
      .selectFrom('source_conversations')
      .select('source_id')
      .where('app_id', '=', appId)
      .where('conversation_id', '=', conversationId)
      .where('source_id', '=', sourceId)
      .executeTakeFirst();
    return row !== undefined;
  }

  /**
   * A new group with its users and the source's right to it, in `tx`. When the group exists after all (made
   * by a concurrent first sight) this throws `conversation_exists`, and the caller runs its transaction again:
   * then the group is found and locked before anyone is added, never after this one's users were inserted.
   */
  async function createGroup(tx: Tx, appId: string, sourceId: string, groupId: string, members: string[]) {
    await insertUsers(tx, appId, members);
    await conversations.create(appId, { id: groupId, kind: 'group', members }, tx);
    await tx
      .insertInto('source_conversations')
      .values({ app_id: appId, conversation_id: groupId, source_id: sourceId, created_at: clock.now() })
      .execute();
  }

  const kindOf = async (tx: Tx, appId: string, conversationId: string) =>
    (
      await tx
        .selectFrom('conversations')
        .select('kind')
        .where('app_id', '=', appId)
        .where('id', '=', conversationId)
        .executeTakeFirst()
    )?.kind;

  async function ensureGroup(tx: Tx, appId: string, sourceId: string, groupId: string, parties: string[]) {
    const kind = await kindOf(tx, appId, groupId);
    if (!kind) {
      await createGroup(tx, appId, sourceId, groupId, parties);
      return [];
    }
    // The lock holds the membership read here until commit (lock order step 1).
    await store.lockConversations(tx, [{ appId, conversationId: groupId }]);
    const current = await memberIds(tx, appId, groupId);
    const toAdd = parties.filter((m) => !current.includes(m));
    // A direct conversation named as a group keeps its members: ingest refuses a non-member clearly.
    if (toAdd.length === 0 || kind !== 'group') return [];
    // A source is no membership admin: it adds people only where it may (issue: a callback naming a group
    // made over REST must not join strangers to it, nor bring back a member an admin removed).
    if (!(await isOpenTo(tx, appId, groupId, sourceId))) {
      throw OncelyError.of(
        'source_not_allowed',
        `callback source ${sourceId} may not add ${toAdd.join(', ')} to conversation ${groupId}: ` +
          'it adds members only to conversations it created or that were opened to it',
      );
    }
    await insertUsers(tx, appId, toAdd);
    return conversations.addMembersIn(tx, appId, groupId, toAdd, null);
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

    /**
     * Makes sure, in `tx`, that the message's parties exist; answers the conversation it lands in and the
     * member events to publish once `tx` commits. A direct conversation is made with its users; a group the
     * source names is made with its users if missing, and joined by a missing party only when the source
     * created it or it was opened to the source (403 `source_not_allowed` otherwise). A group made meanwhile by
     * another transaction is `conversation_exists`: run the transaction again. Nothing is remembered before
     * `learn`, which the caller calls once `tx` committed.
     */
    async ensureIn(tx: Tx, appId: string, sourceId: string, msg: InboundMessage): Promise<SendSetup> {
      const parties = msg.to ? [msg.from, msg.to] : [msg.from];
      if (msg.groupId) {
        const appended = await ensureGroup(tx, appId, sourceId, msg.groupId, parties);
        return { conversationId: msg.groupId, appended };
      }
      await insertUsers(tx, appId, parties);
      return { conversationId: await conversations.ensureDirect(appId, msg.from, msg.to!, tx), appended: [] };
    },

    /** Remembers the message's parties as members of `conversationId`, after the transaction that made sure. */
    learn(appId: string, msg: InboundMessage, conversationId: string): void {
      const parties = msg.to ? [msg.from, msg.to] : [msg.from];
      for (const u of parties) knownUsers.remember(`${appId}\n${u}`, true);
      if (msg.groupId) {
        for (const m of parties) knownMembers.remember(`${appId}\n${conversationId}\n${m}`, true);
      } else {
        knownDirect.remember(`${appId}\n${[msg.from, msg.to!].sort().join('\n')}`, conversationId);
      }
    },
  };
}

export type Participants = ReturnType<typeof createParticipants>;
