// The hub routes by membership as it stood at what it has routed: a user who attaches while a removal and
// re-add are committed but not yet routed still gets the rest of its first period, its own removal, nothing
// while it was out, and everything from its re-add (invariant 4 over time). Pure logic over a stub reader.
import { describe, expect, it } from 'vitest';
import type { WireEvent } from '../../client/protocol.js';
import type { Logger } from '../../src/observability/logger.js';
import { CursorCodec } from '../../src/realtime/cursor.js';
import type { Delivery } from '../../src/realtime/deliveries.js';
import { Hub } from '../../src/realtime/hub.js';
import type { MembershipSpan, StreamReader } from '../../src/realtime/stream-reader.js';

const event = (pos: number, type: WireEvent['type'], userId?: string) => ({
  appId: 'app',
  pos,
  event: {
    id: `e${pos}`,
    type,
    conversationId: 'g',
    seq: pos,
    senderId: type === 'message.created' ? 'bob' : null,
    body: type === 'message.created' ? { type: 'text' as const, text: `m${pos}` } : null,
    createdAt: new Date(0).toISOString(),
    ...(userId ? { userId } : {}),
  },
});

describe('the hub after a removal and re-add not yet routed', () => {
  it("routes the rest of the member's first period, its removal, then only what follows its re-add", async () => {
    // In the store: alice was in from 2, removed at 8, re-added at 10. The hub has routed up to 5.
    const asRead: number[] = [];
    const reader = {
      async membershipsOfUser(_app: string, _user: string, asOf: number) {
        asRead.push(asOf);
        const span: MembershipSpan =
          asOf < 10 ? { joinedPos: 2, leftPos: 8 } : { joinedPos: 10, leftPos: null };
        return new Map([['g', span]]);
      },
      async membersOfConversation() {
        return new Map<string, MembershipSpan>([['alice', { joinedPos: 10, leftPos: null }]]);
      },
    } as unknown as StreamReader;
    const hub = new Hub({
      reader,
      logger: { error() {} } as unknown as Logger,
      cursors: new CursorCodec('e'),
    });
    hub.dispatchedPos = 5;
    const got: number[] = [];
    await hub.attach({
      appId: 'app',
      userId: 'alice',
      closed: false,
      deliver: (d: Delivery) => void got.push(d.pos),
      receipt: () => undefined,
    });
    expect(asRead).toEqual([5]);
    hub.onEvent(event(6, 'message.created'));
    hub.onEvent(event(7, 'message.created'));
    hub.onEvent(event(8, 'member.removed', 'alice'));
    hub.onEvent(event(9, 'message.created'));
    hub.onEvent(event(10, 'member.added', 'alice'));
    hub.onEvent(event(11, 'message.created'));
    await new Promise((r) => setTimeout(r, 10));
    expect(got).toEqual([6, 7, 8, 10, 11]);
  });
});
