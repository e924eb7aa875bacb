// Who gets which presence frames for one batch window (pure logic): each changed user once per member, never
// a member's own change, only news to each subscriber, and one shared batch for members that get the same.
import { describe, expect, it } from 'vitest';
import type { SignalBatch } from '../../src/realtime/deliveries.js';
import { presenceFanOut, type HeardChange, type LocalMember } from '../../src/realtime/presence-fanout.js';
import type { MembershipSpan } from '../../src/realtime/stream-reader.js';

interface Sub {
  name: string;
  mark: number;
}

const current: MembershipSpan = { joinedPos: 1, leftPos: null };
function member(userId: string, conversations: string[], subs: Sub[], left: string[] = []): LocalMember<Sub> {
  const spans = new Map<string, MembershipSpan>(conversations.map((c) => [c, current]));
  for (const c of left) spans.set(c, { joinedPos: 1, leftPos: 5 });
  return { userId, spans, subscribers: subs };
}

function fanOut(
  changes: HeardChange[],
  conversationsOf: Record<string, string[]>,
  members: LocalMember<Sub>[],
) {
  const result = presenceFanOut<Sub>({
    changes,
    conversationsOf: new Map(Object.entries(conversationsOf)),
    membersOf: (conversationId) => {
      const here = members.filter((m) => m.spans.has(conversationId));
      return here.length > 0 ? here : undefined;
    },
    markOf: (sub) => sub.mark,
  });
  const frames = (b: SignalBatch) => b.frames.map((f) => JSON.parse(f.toString()) as Record<string, unknown>);
  return {
    result,
    /** What each subscriber got, as `userId:online` strings. */
    got: Object.fromEntries(
      [...result].map(([sub, b]) => [
        sub.name,
        frames(b).map((f) => `${String(f.userId)}:${String(f.online)}`),
      ]),
    ),
  };
}

const change = (userId: string, online: boolean, seq: number): HeardChange => ({
  userId,
  online,
  at: seq,
  seq,
});

describe('presence fan-out of one window', () => {
  it("gives each member the others' changes, not its own, in one batch shared by members that get the same", () => {
    const a = { name: 'a', mark: 0 };
    const b = { name: 'b', mark: 0 };
    const b2 = { name: 'b2', mark: 0 };
    const c = { name: 'c', mark: 0 };
    const { result, got } = fanOut([change('c', true, 1), change('x', false, 2)], { c: ['g'], x: ['g'] }, [
      member('a', ['g'], [a]),
      member('b', ['g'], [b, b2]),
      member('c', ['g'], [c]),
    ]);
    expect(got).toEqual({
      a: ['c:true', 'x:false'],
      b: ['c:true', 'x:false'],
      b2: ['c:true', 'x:false'],
      c: ['x:false'],
    });
    expect(result.get(a)).toBe(result.get(b));
    expect(result.get(b)).toBe(result.get(b2));
    const frame = JSON.parse(result.get(c)!.frames[0]!.toString()) as unknown;
    expect(frame).toEqual({ type: 'presence', userId: 'x', online: false, at: new Date(2).toISOString() });
  });

  it('sends one frame for a user sharing several conversations with the member, none to a removed member', () => {
    const a = { name: 'a', mark: 0 };
    const gone = { name: 'gone', mark: 0 };
    const { got } = fanOut([change('x', true, 1)], { x: ['g', 'h'] }, [
      member('a', ['g', 'h'], [a]),
      member('gone', [], [gone], ['g']),
    ]);
    expect(got).toEqual({ a: ['x:true'] });
  });

  it('sends the latest state, and nothing for a user back where it was when the window opened', () => {
    const a = { name: 'a', mark: 0 };
    const { got } = fanOut(
      [
        change('x', false, 1),
        change('y', true, 2),
        change('x', true, 3),
        change('y', false, 4),
        change('y', true, 5),
      ],
      { x: ['g'], y: ['g'] },
      [member('a', ['g'], [a])],
    );
    expect(got).toEqual({ a: ['y:true'] });
  });

  it('sends a session only the changes heard after it attached', () => {
    // x left (1), s1 attached (mark 1), x came back (2), s2 attached (mark 2); y left (3) after both.
    const s0 = { name: 's0', mark: 0 };
    const s1 = { name: 's1', mark: 1 };
    const s2 = { name: 's2', mark: 2 };
    const { got } = fanOut(
      [change('x', false, 1), change('x', true, 2), change('y', false, 3)],
      { x: ['g'], y: ['g'] },
      [member('a', ['g'], [s0, s1]), member('b', ['g'], [s2])],
    );
    expect(got).toEqual({ s0: ['y:false'], s1: ['x:true', 'y:false'], s2: ['y:false'] });
  });

  it('gives nothing to a conversation with no member here', () => {
    expect(fanOut([change('x', true, 1)], { x: ['g'] }, []).result.size).toBe(0);
  });
});
