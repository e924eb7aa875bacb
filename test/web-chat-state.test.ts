// The web page's view state, without a browser: messages in seq order, recall placeholders, unread counts
// that a replay never counts twice, and message status derived from the other members' markers.
import { describe, expect, it } from 'vitest';
import type { WireEvent } from '../client/index.js';
import {
  chatReducer,
  firstUnreadSeq,
  initialChatState,
  nameOf,
  orderedEvents,
  statusOf,
  type ChatState,
  type ConversationSummary,
} from '../web/src/chat-state.js';

const conv = 'c1';
let nextId = 0;
const message = (seq: number, senderId: string, text: string, extra: Partial<WireEvent> = {}): WireEvent => ({
  id: `e${++nextId}`,
  type: 'message.created',
  conversationId: conv,
  seq,
  senderId,
  body: { type: 'text', text },
  createdAt: new Date(1_700_000_000_000 + seq * 1000).toISOString(),
  ...extra,
});
const summary = (over: Partial<ConversationSummary> = {}): ConversationSummary => ({
  id: conv,
  kind: 'direct',
  title: null,
  members: ['alice', 'bob'],
  lastSeq: 0,
  readSeq: 0,
  unread: 0,
  lastMessage: null,
  ...over,
});
const apply = (state: ChatState, ...events: WireEvent[]) =>
  chatReducer(state, { type: 'events.applied', events });
const bobsView = () =>
  chatReducer(initialChatState('bob'), { type: 'conversations.loaded', items: [summary()] });

describe('chat state', () => {
  it('shows events in seq order whatever order history pages and live events came in', () => {
    let s = apply(bobsView(), message(5, 'alice', 'five'));
    s = chatReducer(s, {
      type: 'history.loaded',
      conversationId: conv,
      items: [message(3, 'alice', 'three'), message(4, 'alice', 'four')],
      hasOlder: true,
    });
    expect(orderedEvents(s.views.get(conv)).map((e) => e.seq)).toEqual([3, 4, 5]);
    expect(s.views.get(conv)!.oldestSeq).toBe(3);
    expect(s.views.get(conv)!.hasOlder).toBe(true);
  });

  it('a recall replaces the message with a placeholder, in the pane, in the list preview and in the unread count', () => {
    const hello = message(1, 'alice', 'hello');
    let s = apply(bobsView(), hello);
    expect(s.conversations[0]!.unread).toBe(1);
    s = apply(s, { ...message(2, 'alice', ''), type: 'message.recalled', body: null, messageId: hello.id });
    const shown = orderedEvents(s.views.get(conv));
    expect(shown).toHaveLength(1);
    expect(shown[0]).toMatchObject({ id: hello.id, recalled: true, body: null });
    expect(s.conversations[0]!.lastMessage).toMatchObject({ recalled: true, body: null });
    expect(s.conversations[0]!.unread).toBe(0);
    expect(statusOf(s, shown[0]!)).toBe('recalled');
  });

  it('events the conversation list already counted are not counted again when they are replayed', () => {
    let s = chatReducer(initialChatState('bob'), {
      type: 'conversations.loaded',
      items: [summary({ lastSeq: 3, unread: 3 })],
    });
    s = apply(s, message(1, 'alice', 'a'), message(2, 'alice', 'b'), message(3, 'alice', 'c'));
    expect(s.conversations[0]!.unread).toBe(3);
    s = apply(s, message(4, 'alice', 'd'), message(5, 'bob', 'mine'));
    expect(s.conversations[0]!.unread).toBe(4);
    // A list that answers late, from before seq 5, does not take the newer summary back.
    s = chatReducer(s, { type: 'conversations.loaded', items: [summary({ lastSeq: 3, unread: 3 })] });
    expect(s.conversations[0]).toMatchObject({ lastSeq: 5, unread: 4 });
    // My own read marker clears what it covers.
    s = chatReducer(s, {
      type: 'receipt.updated',
      receipt: { conversationId: conv, userId: 'bob', deliveredSeq: 5, readSeq: 5 },
    });
    expect(s.conversations[0]!.unread).toBe(0);
  });

  it("a message's status follows the other members' markers, which only move forward", () => {
    const mine = message(2, 'alice', 'hi');
    let s = apply(
      chatReducer(initialChatState('alice'), { type: 'conversations.loaded', items: [summary()] }),
      message(1, 'bob', 'yo'),
      mine,
    );
    expect(statusOf(s, mine)).toBe('sent');
    const receipt = (deliveredSeq: number, readSeq: number) =>
      chatReducer(s, {
        type: 'receipt.updated',
        receipt: { conversationId: conv, userId: 'bob', deliveredSeq, readSeq },
      });
    s = receipt(2, 0);
    expect(statusOf(s, mine)).toBe('delivered');
    s = receipt(2, 2);
    expect(statusOf(s, mine)).toBe('read');
    s = receipt(1, 1);
    expect(statusOf(s, mine)).toBe('read');
    // The sender's own markers never make their message delivered.
    const alone = chatReducer(s, {
      type: 'receipt.updated',
      receipt: { conversationId: conv, userId: 'alice', deliveredSeq: 9, readSeq: 9 },
    });
    expect(statusOf(alone, message(3, 'alice', 'later'))).toBe('sent');
  });

  it('a send shows at once as sending, then sent, and gives way to its event; a retry keeps its place', () => {
    const pending = {
      clientMsgId: 'k1',
      conversationId: conv,
      text: 'hey',
      createdAt: new Date().toISOString(),
      state: 'sending' as const,
    };
    let s = chatReducer(bobsView(), { type: 'send.started', pending });
    s = chatReducer(s, { type: 'send.failed', clientMsgId: 'k1', error: 'unavailable', retryable: true });
    expect(s.pending).toMatchObject([{ clientMsgId: 'k1', state: 'failed', retryable: true }]);
    s = chatReducer(s, { type: 'send.started', pending });
    s = chatReducer(s, { type: 'send.acked', clientMsgId: 'k1', seq: 1 });
    expect(s.pending).toMatchObject([{ clientMsgId: 'k1', state: 'sent', seq: 1 }]);
    s = apply(s, message(1, 'bob', 'hey', { clientMsgId: 'k1' }));
    expect(s.pending).toEqual([]);
    expect(orderedEvents(s.views.get(conv)).map((e) => e.clientMsgId)).toEqual(['k1']);
  });

  it('a send refused as it is can be discarded', () => {
    const pending = {
      clientMsgId: 'k2',
      conversationId: conv,
      text: 'x'.repeat(5000),
      createdAt: new Date().toISOString(),
      state: 'sending' as const,
    };
    let s = chatReducer(bobsView(), { type: 'send.started', pending });
    s = chatReducer(s, { type: 'send.failed', clientMsgId: 'k2', error: 'too large', retryable: false });
    expect(s.pending).toMatchObject([{ state: 'failed', retryable: false }]);
    expect(chatReducer(s, { type: 'send.discarded', clientMsgId: 'k2' }).pending).toEqual([]);
  });

  it('people are shown by display name, else by user id', () => {
    const s = chatReducer(bobsView(), {
      type: 'people.loaded',
      items: [
        { id: 'alice', displayName: 'Alice Liddell' },
        { id: 'bob', displayName: null },
      ],
    });
    expect([nameOf(s, 'alice'), nameOf(s, 'bob'), nameOf(s, 'gone')]).toEqual([
      'Alice Liddell',
      'bob',
      'gone',
    ]);
  });

  it("the new-messages divider goes above the first other member's message after the read marker", () => {
    let s = apply(bobsView(), message(1, 'alice', 'a'), message(2, 'bob', 'b'), message(3, 'bob', 'c'));
    s = apply(s, message(4, 'alice', 'd'), message(5, 'alice', 'e'));
    expect(firstUnreadSeq(s, conv, 1)).toBe(4);
    expect(firstUnreadSeq(s, conv, 0)).toBe(1);
    expect(firstUnreadSeq(s, conv, 5)).toBeUndefined();
  });
});
