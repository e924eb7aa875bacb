// Reads of the event stream from the store: a user's events after a position (resume, long-poll), a
// range of the global stream (the sequencer's gap fill), memberships (who sees what), and "now".
import { toWireEvent, type WireEvent } from '../conversations/events.js';
import type { Store } from '../store/store.js';

export interface StreamEvent {
  appId: string;
  event: WireEvent;
  pos: number;
}

export interface MembershipSpan {
  /** The member sees events with joinedPos <= pos … */
  joinedPos: number;
  /** … and pos <= leftPos, while leftPos is set. */
  leftPos: number | null;
}

export function createStreamReader(store: Store) {
  return {
    /** The highest committed stream position. */
    async head(): Promise<number> {
      const row = await store.db
        .selectFrom('counters')
        .select('value')
        .where('name', '=', 'pos')
        .executeTakeFirst();
      return Number(row?.value ?? 0);
    },

    /**
     * The user's events after `afterPos`, ordered by pos: one query over the user's memberships, each
     * membership limited to its span, so a removed member keeps its own member.removed and nothing later.
     */
    async userEvents(appId: string, userId: string, afterPos: number, limit: number): Promise<StreamEvent[]> {
      const rows = await store.db
        .selectFrom('members as m')
        .innerJoin('events as e', (j) =>
          j.onRef('e.app_id', '=', 'm.app_id').onRef('e.conversation_id', '=', 'm.conversation_id'),
        )
        .selectAll('e')
        .where('m.app_id', '=', appId)
        .where('m.user_id', '=', userId)
        .where('e.pos', '>', afterPos)
        .whereRef('e.pos', '>=', 'm.joined_pos')
        .where((eb) => eb.or([eb('m.left_pos', 'is', null), eb('e.pos', '<=', eb.ref('m.left_pos'))]))
        .orderBy('e.pos')
        .limit(limit)
        .execute();
      return rows.map((row) => ({ appId: row.app_id, event: toWireEvent(row), pos: Number(row.pos) }));
    },

    /** Every event with afterPos < pos <= toPos, any app (the sequencer's gap fill). */
    async range(afterPos: number, toPos: number): Promise<StreamEvent[]> {
      const rows = await store.db
        .selectFrom('events')
        .selectAll()
        .where('pos', '>', afterPos)
        .where('pos', '<=', toPos)
        .orderBy('pos')
        .execute();
      return rows.map((row) => ({ appId: row.app_id, event: toWireEvent(row), pos: Number(row.pos) }));
    },

    /** A user's memberships (current and past) by conversation. */
    async membershipsOfUser(appId: string, userId: string): Promise<Map<string, MembershipSpan>> {
      const rows = await store.db
        .selectFrom('members')
        .select(['conversation_id', 'joined_pos', 'left_pos'])
        .where('app_id', '=', appId)
        .where('user_id', '=', userId)
        .execute();
      return new Map(rows.map((r) => [r.conversation_id, span(r)]));
    },

    /** A conversation's members (current and past) by user. */
    async membersOfConversation(appId: string, conversationId: string): Promise<Map<string, MembershipSpan>> {
      const rows = await store.db
        .selectFrom('members')
        .select(['user_id', 'joined_pos', 'left_pos'])
        .where('app_id', '=', appId)
        .where('conversation_id', '=', conversationId)
        .execute();
      return new Map(rows.map((r) => [r.user_id, span(r)]));
    },
  };
}

function span(r: { joined_pos: number; left_pos: number | null }): MembershipSpan {
  return { joinedPos: Number(r.joined_pos), leftPos: r.left_pos === null ? null : Number(r.left_pos) };
}

export type StreamReader = ReturnType<typeof createStreamReader>;
