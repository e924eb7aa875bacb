// Conversations and their members. A direct conversation of two users exists once per app (a unique
// index on the sorted pair); adding and removing members are sequenced events, so every device learns
// of them in order.
import { newId, type Clock } from '../clock.js';
import { OncelyError } from '../errors.js';
import type { Bus } from '../realtime/bus.js';
import type { ConversationsTable } from '../store/schema.js';
import type { Store, Tx } from '../store/store.js';
import type { AppendedEvent, EventLog } from './event-log.js';
import type { Actor } from '../apps/principal.js';
import { closePeriod, openPeriods } from './member-periods.js';
import { memberIds, requireConversation, requireReadAccess } from './membership.js';
import { listForUser } from './conversation-list.js';
import { createExpiryRule, type ExpiryRule } from './expiry-rule.js';

export interface ConversationView {
  id: string;
  kind: 'direct' | 'group';
  title: string | null;
  members: string[];
  lastSeq: number;
  createdAt: string;
  /** Seconds a message is kept before its body is erased; 0: forever (expiry-rule.ts). */
  retentionSeconds: number;
}

export interface CreateConversation {
  id?: string | undefined;
  kind: 'direct' | 'group';
  title?: string | null | undefined;
  members: string[];
  admins?: string[] | undefined;
  /** Null or absent: the deployment's default; 0: forever. */
  retentionSeconds?: number | null | undefined;
}

export const directKey = (a: string, b: string) => (a < b ? `${a}\n${b}` : `${b}\n${a}`);

export interface ConversationsDeps {
  store: Store;
  bus: Bus;
  clock: Clock;
  /** Member changes are appended through the event log, like every event. */
  events: EventLog;
  /** How long messages are kept. @defaultValue keep forever (a default retention of 0) */
  expiry?: ExpiryRule;
}

export function createConversations(deps: ConversationsDeps) {
  const { store, bus, clock, events: log } = deps;
  const expiry = deps.expiry ?? createExpiryRule({ defaultSeconds: 0, clock });
  async function view(db: Store['db'] | Tx, conv: ConversationsTable): Promise<ConversationView> {
    return {
      id: conv.id,
      kind: conv.kind,
      title: conv.title,
      members: await memberIds(db, conv.app_id, conv.id),
      lastSeq: Number(conv.last_seq),
      createdAt: new Date(Number(conv.created_at)).toISOString(),
      retentionSeconds: expiry.secondsOf(conv.retention_seconds),
    };
  }

  async function requireUsers(tx: Tx, appId: string, userIds: string[]): Promise<void> {
    const found = await tx
      .selectFrom('users')
      .select('id')
      .where('app_id', '=', appId)
      .where('id', 'in', userIds)
      .execute();
    const known = new Set(found.map((u) => u.id));
    const missing = userIds.filter((u) => !known.has(u));
    if (missing.length > 0) throw OncelyError.of('user_not_found', `unknown users: ${missing.join(', ')}`);
  }

  async function findDirect(db: Store['db'] | Tx, appId: string, a: string, b: string) {
    return db
      .selectFrom('conversations')
      .selectAll()
      .where('app_id', '=', appId)
      .where('direct_key', '=', directKey(a, b))
      .executeTakeFirst();
  }

  /** Creates a conversation; a direct pair that exists already is returned with created=false. */
  async function create(appId: string, input: CreateConversation, tx?: Tx) {
    const members = [...new Set(input.members)];
    const admins = new Set(input.admins ?? []);
    if (input.kind === 'direct' && members.length !== 2) {
      throw OncelyError.of('invalid_members', 'a direct conversation has exactly two distinct members');
    }
    if (input.kind === 'group' && members.length === 0) {
      throw OncelyError.of('invalid_members', 'a group needs at least one member');
    }
    for (const admin of admins) {
      if (!members.includes(admin))
        throw OncelyError.of('invalid_members', `admin ${admin} is not among the members`);
    }
    const run = async (tx: Tx) => {
      if (input.kind === 'direct') {
        const existing = await findDirect(tx, appId, members[0]!, members[1]!);
        if (existing) return { created: false, conversation: await view(tx, existing) };
      }
      await requireUsers(tx, appId, members);
      const now = clock.now();
      const row: ConversationsTable = {
        app_id: appId,
        id: input.id ?? newId(),
        kind: input.kind,
        title: input.title ?? null,
        direct_key: input.kind === 'direct' ? directKey(members[0]!, members[1]!) : null,
        last_seq: 0,
        created_at: now,
        retention_seconds: input.retentionSeconds ?? null,
        expired_seq: 0,
      };
      const inserted = await tx
        .insertInto('conversations')
        .values(row)
        .onConflict((oc) => oc.doNothing())
        .executeTakeFirst();
      if (Number(inserted.numInsertedOrUpdatedRows ?? 0) === 0) {
        // Either the id is taken, or a concurrent create of the same direct pair won the unique index.
        const pair =
          input.kind === 'direct' ? await findDirect(tx, appId, members[0]!, members[1]!) : undefined;
        if (pair) return { created: false, conversation: await view(tx, pair) };
        throw OncelyError.of('conversation_exists', `conversation ${row.id} already exists`);
      }
      // Founding members see the conversation from its beginning (position 0).
      await tx
        .insertInto('members')
        .values(
          members.map((userId) => ({
            app_id: appId,
            conversation_id: row.id,
            user_id: userId,
            role: admins.has(userId) ? ('admin' as const) : ('member' as const),
            delivered_seq: 0,
            read_seq: 0,
            joined_pos: 0,
            left_pos: null,
            joined_at: now,
          })),
        )
        .execute();
      await openPeriods(
        tx,
        members.map((userId) => ({ appId, conversationId: row.id, userId, fromSeq: 0 })),
      );
      return { created: true, conversation: await view(tx, row) };
    };
    return tx ? run(tx) : store.transaction(run);
  }

  /** The direct conversation of two users, created if needed (batch `to`, callbacks). */
  async function ensureDirect(appId: string, a: string, b: string, tx?: Tx): Promise<string> {
    const existing = await findDirect(tx ?? store.db, appId, a, b);
    if (existing) return existing.id;
    try {
      return (await create(appId, { kind: 'direct', members: [a, b] }, tx)).conversation.id;
    } catch (err) {
      // Two first sends of a pair race: the loser finds the winner's row.
      if (err instanceof OncelyError) throw err;
      const again = await findDirect(tx ?? store.db, appId, a, b);
      if (again) return again.id;
      throw err;
    }
  }

  /**
   * Adds members inside `tx`, whose caller publishes the returned `member.added` events after its commit.
   * It takes the conversation's lock (step 1) and then the stream counter (step 4), held to the commit.
   */
  async function addMembersIn(
    tx: Tx,
    appId: string,
    conversationId: string,
    userIds: string[],
    actorId: string | null,
  ): Promise<AppendedEvent[]> {
    // Lock order: the conversation row first, so the membership read below holds until commit.
    await store.lockConversations(tx, [{ appId, conversationId }]);
    const conv = await requireConversation(tx, appId, conversationId);
    if (conv.kind === 'direct')
      throw OncelyError.of('conversation_is_direct', 'a direct conversation keeps its two members');
    const wanted = [...new Set(userIds)];
    await requireUsers(tx, appId, wanted);
    const current = new Set(await memberIds(tx, appId, conversationId));
    const added = wanted.filter((u) => !current.has(u));
    const now = clock.now();
    const appended = await log.append(
      tx,
      added.map((userId) => ({
        appId,
        conversationId,
        type: 'member.added' as const,
        senderId: actorId,
        body: null,
        subjectId: userId,
      })),
      now,
    );
    // A member sees the stream from the event that added it, so its row needs that event's position:
    // written after the positions are taken (membership changes hold the counter one statement longer).
    if (appended.length > 0) {
      const rows = appended.map(({ event, pos }) => ({
        app_id: appId,
        conversation_id: conversationId,
        user_id: event.userId!,
        role: 'member' as const,
        delivered_seq: event.seq,
        read_seq: event.seq,
        joined_pos: pos,
        left_pos: null,
        joined_at: now,
      }));
      await tx
        .insertInto('members')
        .values(rows)
        .onConflict((oc) =>
          oc.columns(['app_id', 'conversation_id', 'user_id']).doUpdateSet((eb) => ({
            role: eb.ref('excluded.role'),
            delivered_seq: eb.ref('excluded.delivered_seq'),
            read_seq: eb.ref('excluded.read_seq'),
            joined_pos: eb.ref('excluded.joined_pos'),
            left_pos: eb.ref('excluded.left_pos'),
            joined_at: eb.ref('excluded.joined_at'),
          })),
        )
        .execute();
      await openPeriods(
        tx,
        appended.map(({ event }) => ({
          appId,
          conversationId,
          userId: event.userId!,
          fromSeq: event.seq,
        })),
      );
    }
    return appended;
  }

  async function publish(appended: AppendedEvent[]) {
    if (appended.length > 0) await bus.publishMany(appended.map((a) => ({ kind: 'event' as const, ...a })));
  }

  return {
    create,
    ensureDirect,
    addMembersIn,

    /** A conversation, for its app or one of its current members. */
    async get(actor: Actor, conversationId: string): Promise<ConversationView> {
      return view(store.db, await requireReadAccess(store.db, actor, conversationId));
    },

    /**
     * Sets a conversation's retention (null: back to the default). A shorter one expires older messages at
     * the next sweep; a longer one cannot bring back bodies already erased.
     */
    async setRetention(appId: string, conversationId: string, retentionSeconds: number | null) {
      return store.transaction(async (tx) => {
        await store.lockConversations(tx, [{ appId, conversationId }]);
        await requireConversation(tx, appId, conversationId);
        await tx
          .updateTable('conversations')
          .set({ retention_seconds: retentionSeconds })
          .where('app_id', '=', appId)
          .where('id', '=', conversationId)
          .execute();
        return view(tx, await requireConversation(tx, appId, conversationId));
      });
    },

    async addMembers(appId: string, conversationId: string, userIds: string[], actorId: string | null) {
      let appended: AppendedEvent[] = [];
      const conversation = await store.transaction(async (tx) => {
        appended = await addMembersIn(tx, appId, conversationId, userIds, actorId);
        return view(tx, await requireConversation(tx, appId, conversationId));
      });
      await publish(appended);
      return { conversation, events: appended.map((a) => a.event) };
    },

    async removeMember(appId: string, conversationId: string, userId: string, actorId: string | null) {
      let appended: AppendedEvent[] = [];
      const conversation = await store.transaction(async (tx) => {
        await store.lockConversations(tx, [{ appId, conversationId }]);
        const conv = await requireConversation(tx, appId, conversationId);
        if (conv.kind === 'direct')
          throw OncelyError.of('conversation_is_direct', 'a direct conversation keeps its two members');
        const current = await memberIds(tx, appId, conversationId);
        if (!current.includes(userId)) throw OncelyError.of('member_not_found', `${userId} is not a member`);
        appended = await log.append(
          tx,
          [
            {
              appId,
              conversationId,
              type: 'member.removed',
              senderId: actorId,
              body: null,
              subjectId: userId,
            },
          ],
          clock.now(),
        );
        // The member's span ends at the removal's position (taken just above; see addMembers).
        await tx
          .updateTable('members')
          .set({ left_pos: appended[0]!.pos })
          .where('app_id', '=', appId)
          .where('conversation_id', '=', conversationId)
          .where('user_id', '=', userId)
          .execute();
        await closePeriod(tx, { appId, conversationId, userId, toSeq: appended[0]!.event.seq });
        return view(tx, await requireConversation(tx, appId, conversationId));
      });
      await publish(appended);
      return { conversation, event: appended[0]?.event };
    },

    /** A user's conversations with unread counts and last message (conversation-list.ts). */
    listForUser: (appId: string, userId: string) => listForUser(store.db, appId, userId, expiry),
  };
}

export type Conversations = ReturnType<typeof createConversations>;
