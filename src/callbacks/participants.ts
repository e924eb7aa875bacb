// First sight of a callback's sender and receiver: their users, their direct conversation or the named group
// and its membership are created when missing. Every step is idempotent and race-safe across instances; what
// is known to exist is remembered, so a steady stream of callbacks costs no extra writes.
import type { Conversations } from '../conversations/conversations.js';
import { OncelyError } from '../errors.js';
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

  /** Inserts the users that may be missing; in `tx`, so that they exist only if what needs them commits. */
  async function insertUsers(tx: Tx, appId: string, userIds: string[]): Promise<void> {
    const missing = [...new Set(userIds)].filter((u) => !knownUsers.has(`${appId}\n${u}`));
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

  const rememberUsers = (appId: string, userIds: string[]) => {
    for (const u of userIds) knownUsers.remember(`${appId}\n${u}`, true);
  };

  /**
   * Whether the source created the conversation or an app opened it to the source. Read each time (only a
   * party that is not a member yet asks), so that closing it applies at once on every instance.
   */
  async function isOpenTo(appId: string, conversationId: string, sourceId: string): Promise<boolean> {
    const row = await store.db
      .selectFrom('source_conversations')
      .select('source_id')
      .where('app_id', '=', appId)
      .where('conversation_id', '=', conversationId)
      .where('source_id', '=', sourceId)
      .executeTakeFirst();
    return row !== undefined;
  }

  /** A new group, its users and the source's right to it, in one transaction; false if the group exists. */
  async function createGroup(appId: string, sourceId: string, groupId: string, members: string[]) {
    try {
      await store.transaction(async (tx) => {
        await insertUsers(tx, appId, members);
        await conversations.create(appId, { id: groupId, kind: 'group', members }, tx);
        await tx
          .insertInto('source_conversations')
          .values({ app_id: appId, conversation_id: groupId, source_id: sourceId, created_at: clock.now() })
          .execute();
      });
    } catch (err) {
      // The group exists (made over REST, or by a concurrent first sight): nothing of this one was written.
      if (err instanceof OncelyError && err.code === 'conversation_exists') return false;
      throw err;
    }
    rememberUsers(appId, members);
    for (const m of members) knownMembers.remember(`${appId}\n${groupId}\n${m}`, true);
    return true;
  }

  async function ensureGroup(appId: string, sourceId: string, groupId: string, members: string[]) {
    const missing = members.filter((m) => !knownMembers.has(`${appId}\n${groupId}\n${m}`));
    if (missing.length === 0) return;
    let conv;
    try {
      conv = await conversations.get({ kind: 'app', appId }, groupId);
    } catch (err) {
      if (!(err instanceof OncelyError) || err.code !== 'conversation_not_found') throw err;
      if (await createGroup(appId, sourceId, groupId, members)) return;
      conv = await conversations.get({ kind: 'app', appId }, groupId);
    }
    let current = conv.members;
    const toAdd = missing.filter((m) => !current.includes(m));
    if (toAdd.length > 0 && conv.kind === 'group') {
      // A source is no membership admin: it adds people only where it may (issue: a callback naming a group
      // made over REST must not join strangers to it, nor bring back a member an admin removed).
      if (!(await isOpenTo(appId, groupId, sourceId))) {
        throw OncelyError.of(
          'source_not_allowed',
          `callback source ${sourceId} may not add ${toAdd.join(', ')} to conversation ${groupId}: ` +
            'it adds members only to conversations it created or that were opened to it',
        );
      }
      await store.transaction((tx) => insertUsers(tx, appId, toAdd));
      rememberUsers(appId, toAdd);
      current = (await conversations.addMembers(appId, groupId, toAdd, null)).conversation.members;
    }
    // A direct conversation named as a group keeps its members: ingest refuses a non-member clearly.
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

    /**
     * Makes sure the message's parties exist; returns the conversation it lands in. A direct conversation and
     * its users are made together; a group the source names is made with its users if missing, and joined by
     * a missing party only when the source created it or it was opened to the source (403
     * `source_not_allowed` otherwise, with nothing written).
     */
    async ensure(appId: string, sourceId: string, msg: InboundMessage): Promise<string> {
      const parties = msg.to ? [msg.from, msg.to] : [msg.from];
      if (msg.groupId) {
        await ensureGroup(appId, sourceId, msg.groupId, parties);
        return msg.groupId;
      }
      const pair = `${appId}\n${[msg.from, msg.to!].sort().join('\n')}`;
      const known = knownDirect.get(pair);
      if (known) return known;
      const id = await store.transaction(async (tx) => {
        await insertUsers(tx, appId, parties);
        return conversations.ensureDirect(appId, msg.from, msg.to!, tx);
      });
      rememberUsers(appId, parties);
      return knownDirect.remember(pair, id);
    },
  };
}

export type Participants = ReturnType<typeof createParticipants>;
