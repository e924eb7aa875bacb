// What the page shows, as one immutable state and a reducer: conversations with unread counts and last
// message, each conversation's messages in seq order, sends still in flight, and the members' receipts from
// which a message's status is derived. Events arrive here already ordered and deduplicated by the client
// library; this module only decides how they look.
import type { Receipt, WireEvent } from '../../client/protocol.js';

export type MessageStatus = 'sending' | 'failed' | 'sent' | 'delivered' | 'read' | 'recalled';

export interface ConversationSummary {
  id: string;
  kind: string;
  title: string | null;
  members: string[];
  lastSeq: number;
  readSeq: number;
  unread: number;
  lastMessage: WireEvent | null;
  /** Messages older than this many seconds are erased (expired); 0 or absent: kept forever. */
  retentionSeconds?: number;
}

/** A send not yet seen as an event: shown at once, below the sequenced messages. */
export interface PendingSend {
  clientMsgId: string;
  conversationId: string;
  text: string;
  createdAt: string;
  state: 'sending' | 'sent' | 'failed';
  /** Set once the server answered: the message is stored with this seq; its event follows. */
  seq?: number;
  error?: string;
  /**
   * For a failed send: whether sending it again may succeed (the server was unavailable). A refusal of the
   * message itself (too large, refused by a rule) fails the same way every time: it is edited or discarded.
   */
  retryable?: boolean;
}

export interface ConversationView {
  /** seq → event; only the seqs loaded so far (live ones plus the history pages fetched). */
  events: Map<number, WireEvent>;
  /** The lowest seq loaded; history pages go back from here. */
  oldestSeq: number | undefined;
  /** Whether older events exist before `oldestSeq`. */
  hasOlder: boolean;
  /** Members' markers: userId → receipt. */
  receipts: Map<string, Receipt>;
  /** Whether the first history page has arrived (the pane lands on the first unread only then). */
  loaded: boolean;
}

export interface ChatState {
  me: string;
  conversations: ConversationSummary[];
  views: Map<string, ConversationView>;
  pending: PendingSend[];
  /** Display names of the people the user shares conversations with (null: none set). */
  people: Map<string, string | null>;
}

export type ChatAction =
  | { type: 'conversations.loaded'; items: ConversationSummary[] }
  | { type: 'history.loaded'; conversationId: string; items: WireEvent[]; hasOlder: boolean }
  | { type: 'receipts.loaded'; conversationId: string; items: Receipt[] }
  | { type: 'events.applied'; events: WireEvent[] }
  | { type: 'receipt.updated'; receipt: Receipt }
  | { type: 'send.started'; pending: PendingSend }
  | { type: 'send.acked'; clientMsgId: string; seq: number }
  | { type: 'send.failed'; clientMsgId: string; error: string; retryable: boolean }
  | { type: 'send.discarded'; clientMsgId: string }
  | { type: 'people.loaded'; items: Array<{ id: string; displayName: string | null }> };

export function initialChatState(me: string): ChatState {
  return { me, conversations: [], views: new Map(), pending: [], people: new Map() };
}

function emptyView(): ConversationView {
  return { events: new Map(), oldestSeq: undefined, hasOlder: true, receipts: new Map(), loaded: false };
}

function withView(
  state: ChatState,
  conversationId: string,
  change: (view: ConversationView) => ConversationView,
): ChatState {
  const views = new Map(state.views);
  views.set(conversationId, change(state.views.get(conversationId) ?? emptyView()));
  return { ...state, views };
}

function isUnreadFor(me: string, event: WireEvent): boolean {
  return event.type === 'message.created' && event.senderId !== me && !event.recalled;
}

/** Applies live or replayed events (already in seq order per conversation, each once). */
function applyEvents(state: ChatState, events: WireEvent[]): ChatState {
  let next = state;
  for (const event of events) {
    next = withView(next, event.conversationId, (view) => {
      const evs = new Map(view.events);
      evs.set(event.seq, event);
      if (event.type === 'message.recalled' && event.messageId) {
        for (const [seq, e] of evs) {
          if (e.id === event.messageId)
            evs.set(seq, { ...e, body: null, recalled: true, recalledAt: event.createdAt });
        }
      }
      return { ...view, events: evs, oldestSeq: view.oldestSeq ?? event.seq };
    });
    const recalledSeq = event.type === 'message.recalled' ? recalledMessageSeq(next, event) : undefined;
    next = {
      ...next,
      pending:
        event.clientMsgId && event.senderId === next.me
          ? next.pending.filter((p) => p.clientMsgId !== event.clientMsgId)
          : next.pending,
      conversations: next.conversations.map((c) => {
        if (c.id !== event.conversationId) return c;
        const updated = { ...c, lastSeq: Math.max(c.lastSeq, event.seq) };
        if (event.type === 'message.created') {
          if (event.seq >= (c.lastMessage?.seq ?? 0)) updated.lastMessage = event;
          // Only what is newer than the summary counts: a replayed event is already in the server's count.
          if (isUnreadFor(next.me, event) && event.seq > c.readSeq && event.seq > c.lastSeq)
            updated.unread = c.unread + 1;
        }
        if (event.type === 'message.recalled') {
          if (c.lastMessage && c.lastMessage.id === event.messageId) {
            updated.lastMessage = { ...c.lastMessage, body: null, recalled: true };
          }
          const wasUnread =
            recalledSeq !== undefined && recalledSeq.senderId !== next.me && recalledSeq.seq > c.readSeq;
          if (wasUnread) updated.unread = Math.max(0, c.unread - 1);
        }
        return updated;
      }),
    };
  }
  return next;
}

function recalledMessageSeq(
  state: ChatState,
  recall: WireEvent,
): { seq: number; senderId: string | null } | undefined {
  const view = state.views.get(recall.conversationId);
  if (!view) return undefined;
  for (const e of view.events.values())
    if (e.id === recall.messageId) return { seq: e.seq, senderId: e.senderId };
  return undefined;
}

function applyReceipt(state: ChatState, receipt: Receipt): ChatState {
  let next = withView(state, receipt.conversationId, (view) => {
    const receipts = new Map(view.receipts);
    const old = receipts.get(receipt.userId);
    // Markers only move forward; a late or repeated update never moves one back.
    receipts.set(receipt.userId, {
      ...receipt,
      deliveredSeq: Math.max(old?.deliveredSeq ?? 0, receipt.deliveredSeq),
      readSeq: Math.max(old?.readSeq ?? 0, receipt.readSeq),
    });
    return { ...view, receipts };
  });
  if (receipt.userId === state.me) {
    // My own marker (from this or another device): what lies at or below it is no longer unread.
    const view = next.views.get(receipt.conversationId);
    next = {
      ...next,
      conversations: next.conversations.map((c) => {
        if (c.id !== receipt.conversationId || receipt.readSeq <= c.readSeq) return c;
        const stillUnread = view
          ? [...view.events.values()].filter((e) => isUnreadFor(state.me, e) && e.seq > receipt.readSeq)
              .length
          : 0;
        return {
          ...c,
          readSeq: receipt.readSeq,
          unread: receipt.readSeq >= c.lastSeq ? 0 : Math.min(c.unread, stillUnread),
        };
      }),
    };
  }
  return next;
}

export function chatReducer(state: ChatState, action: ChatAction): ChatState {
  switch (action.type) {
    case 'conversations.loaded': {
      // A live event may have overtaken the list request: keep the summary that has seen more.
      const mine = new Map(state.conversations.map((c) => [c.id, c]));
      return {
        ...state,
        conversations: action.items.map((c) => {
          const local = mine.get(c.id);
          return local && local.lastSeq > c.lastSeq ? local : c;
        }),
      };
    }
    case 'history.loaded':
      return withView(state, action.conversationId, (view) => {
        const evs = new Map(view.events);
        // A live event already held is newer than the history copy (it may carry a later recall).
        for (const e of action.items) if (!evs.has(e.seq)) evs.set(e.seq, e);
        const lowest = action.items.reduce((min, e) => Math.min(min, e.seq), view.oldestSeq ?? Infinity);
        return {
          ...view,
          events: evs,
          oldestSeq: Number.isFinite(lowest) ? lowest : undefined,
          hasOlder: action.hasOlder,
          loaded: true,
        };
      });
    case 'receipts.loaded':
      return action.items.reduce(applyReceipt, state);
    case 'events.applied':
      return applyEvents(state, action.events);
    case 'receipt.updated':
      return applyReceipt(state, action.receipt);
    case 'send.started': {
      // A retry keeps its place (and its clientMsgId, so the server still creates it once).
      const retried = state.pending.some((p) => p.clientMsgId === action.pending.clientMsgId);
      return {
        ...state,
        pending: retried
          ? state.pending.map((p) => (p.clientMsgId === action.pending.clientMsgId ? action.pending : p))
          : [...state.pending, action.pending],
      };
    }
    case 'send.acked':
      return {
        ...state,
        pending: state.pending.map((p) =>
          p.clientMsgId === action.clientMsgId ? { ...p, state: 'sent', seq: action.seq } : p,
        ),
      };
    case 'send.failed':
      return {
        ...state,
        pending: state.pending.map((p) =>
          p.clientMsgId === action.clientMsgId
            ? { ...p, state: 'failed', error: action.error, retryable: action.retryable }
            : p,
        ),
      };
    case 'send.discarded':
      return { ...state, pending: state.pending.filter((p) => p.clientMsgId !== action.clientMsgId) };
    case 'people.loaded':
      return { ...state, people: new Map(action.items.map((p) => [p.id, p.displayName])) };
  }
}

/** How a person is shown: their display name, else their user id (also for people no longer known). */
export function nameOf(state: ChatState, userId: string | null | undefined): string {
  if (!userId) return '';
  return state.people.get(userId) || userId;
}

/**
 * Where the "new messages" divider goes when a conversation is opened: the first message of another member
 * after the reader's read marker, among those loaded.
 */
export function firstUnreadSeq(
  state: ChatState,
  conversationId: string,
  readSeq: number,
): number | undefined {
  return orderedEvents(state.views.get(conversationId)).find(
    (e) => e.type === 'message.created' && e.seq > readSeq && e.senderId !== state.me,
  )?.seq;
}

/** The sequenced events of a conversation to show, in seq order. */
export function orderedEvents(view: ConversationView | undefined): WireEvent[] {
  if (!view) return [];
  return [...view.events.values()].filter((e) => e.type !== 'message.recalled').sort((a, b) => a.seq - b.seq);
}

/**
 * A message's status as its sender sees it, from the other members' markers (as the server derives it):
 * delivered once some recipient's deliveredSeq reaches it, read once some recipient's readSeq does.
 */
export function statusOf(state: ChatState, event: WireEvent): MessageStatus {
  if (event.recalled) return 'recalled';
  const receipts = state.views.get(event.conversationId)?.receipts;
  let status: MessageStatus = 'sent';
  for (const r of receipts?.values() ?? []) {
    if (r.userId === event.senderId) continue;
    if (r.readSeq >= event.seq) return 'read';
    if (r.deliveredSeq >= event.seq) status = 'delivered';
  }
  return status;
}
