// Which presence frames each member connected here gets for one batch window of changes (the hub flushes a
// window at a time). Pure: the hub supplies the changes it heard, the changed users' current conversations
// and its local index of members; the answer is one batch of frames per subscriber, shared where equal.
import { SignalBatch, SignalDelivery } from './deliveries.js';
import type { MembershipSpan } from './stream-reader.js';

/** A presence change as the hub heard it, numbered in the order heard. */
export interface HeardChange {
  userId: string;
  online: boolean;
  /** Epoch ms of the change. */
  at: number;
  /** The hub's count of presence changes heard, this one included. */
  seq: number;
}

/** What the fan-out reads of a member connected here (the hub's own entry). */
export interface LocalMember<S> {
  userId: string;
  spans: Map<string, MembershipSpan>;
  subscribers: Iterable<S>;
}

/** A changed user's frame, and every change of it heard in the window (they alternate off/on). */
interface Changed {
  userId: string;
  seqs: number[];
  delivery: SignalDelivery;
}

/**
 * One app's changes of a window to the members here. A member gets a frame for each changed user it shares a
 * current conversation with (one frame, however many they share), never its own. Only news is sent: a
 * subscriber gets a user's latest state if an odd number of that user's changes came after it attached
 * (`markOf`: the `seq` it attached at) — a user who left and came back within the window produces nothing
 * for those who saw it online before, and a session that opened after a change gets no frame for it (it
 * reads presence from there). Members with the same frames get the same `SignalBatch` object, so a
 * transport encodes it once for all of them.
 */
export function presenceFanOut<S>(input: {
  changes: HeardChange[];
  /** Each changed user's current conversations (from the store). */
  conversationsOf: Map<string, string[]>;
  /** The members here of a conversation, or nothing when none is connected here. */
  membersOf(conversationId: string): Iterable<LocalMember<S>> | undefined;
  markOf(sub: S): number;
}): Map<S, SignalBatch> {
  const { changes, conversationsOf } = input;
  const out = new Map<S, SignalBatch>();
  if (changes.length === 0) return out;
  const opened = changes[0]!.seq;
  // The latest change per user, with all the window's changes of it.
  const changed = new Map<string, Changed>();
  for (const c of changes) {
    const body = { userId: c.userId, online: c.online, at: new Date(c.at).toISOString() };
    const known = changed.get(c.userId);
    if (known) {
      known.seqs.push(c.seq);
      known.delivery = new SignalDelivery('presence', body);
    } else
      changed.set(c.userId, {
        userId: c.userId,
        seqs: [c.seq],
        delivery: new SignalDelivery('presence', body),
      });
  }
  // Per conversation with members here: its changed users. Per member: the lists of its conversations.
  const lists = new Map<string, Changed[]>();
  for (const user of changed.values()) {
    for (const conversationId of conversationsOf.get(user.userId) ?? []) {
      if (input.membersOf(conversationId) === undefined) continue;
      const list = lists.get(conversationId);
      if (list) list.push(user);
      else lists.set(conversationId, [user]);
    }
  }
  const ofMember = new Map<LocalMember<S>, Changed[][]>();
  for (const [conversationId, list] of lists) {
    for (const member of input.membersOf(conversationId)!) {
      if (member.spans.get(conversationId)?.leftPos !== null) continue;
      const known = ofMember.get(member);
      if (known) known.push(list);
      else ofMember.set(member, [list]);
    }
  }
  // A subscriber attached before the window's first change counts all of a user's changes in it: members
  // in one conversation with no change of their own share that conversation's batch.
  const shared = new Map<Changed[], SignalBatch | undefined>();
  const sharedOf = (list: Changed[]) => {
    if (!shared.has(list)) shared.set(list, batchOf(list, undefined, opened - 1));
    return shared.get(list);
  };
  for (const [member, memberLists] of ofMember) {
    let forAll: SignalBatch | undefined | null = null;
    for (const sub of member.subscribers) {
      const mark = input.markOf(sub);
      let batch: SignalBatch | undefined;
      if (mark >= opened) batch = batchOf(union(memberLists), member.userId, mark);
      else {
        if (forAll === null) {
          const only = memberLists.length === 1 ? memberLists[0]! : undefined;
          forAll =
            only && !only.some((c) => c.userId === member.userId)
              ? sharedOf(only)
              : batchOf(union(memberLists), member.userId, mark);
        }
        batch = forAll;
      }
      if (batch) out.set(sub, batch);
    }
  }
  return out;
}

/** The frames of `list` but `self`'s whose number of changes after `mark` is odd (the state moved). */
function batchOf(list: Changed[], self: string | undefined, mark: number): SignalBatch | undefined {
  const items: SignalDelivery[] = [];
  for (const c of list) {
    if (c.userId === self) continue;
    let after = 0;
    for (const seq of c.seqs) if (seq > mark) after++;
    if (after % 2 === 1) items.push(c.delivery);
  }
  return items.length > 0 ? new SignalBatch('presence', items) : undefined;
}

/** The changed users of several conversations, each once. */
function union(lists: Changed[][]): Changed[] {
  return lists.length === 1 ? lists[0]! : [...new Set(lists.flat())];
}
