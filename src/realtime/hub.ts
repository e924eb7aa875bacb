// The hub knows which local connections may see which event. It keeps, for every user with a connection on
// this instance, the user's membership spans, indexed by conversation; the sequencer feeds it events in
// stream order and it hands each event to the connections of the members whose span covers the event's
// position (invariant 4). Membership changes are events of the same stream, so the index stays exact.
import type { Logger } from '../observability/logger.js';
import type { CursorCodec } from './cursor.js';
import { Delivery, ReceiptDelivery, SignalBatch, SignalDelivery } from './deliveries.js';
import { presenceFanOut, type HeardChange } from './presence-fanout.js';
import type { ReceiptMessage, SignalMessage } from './sequencer.js';
import type { MembershipSpan, StreamEvent, StreamReader } from './stream-reader.js';

/** A local consumer of one user's stream: a WebSocket, an SSE response, a waiting long-poll. */
export interface Subscriber {
  readonly appId: string;
  readonly userId: string;
  /** Set once the consumer is gone; the hub then never attaches it. */
  readonly closed: boolean;
  /** Called in stream order with every event the user may see. */
  deliver(d: Delivery): void;
  receipt(r: ReceiptDelivery): void;
  /** Typing and presence of the other members; absent where the consumer does not carry them (long-poll). */
  signal?(batch: SignalBatch): void;
}

interface UserEntry {
  appId: string;
  userId: string;
  spans: Map<string, MembershipSpan>;
  subscribers: Set<Subscriber>;
}

interface ConversationEntry {
  /** Whether every attached member of the conversation is in `users` (set after one store read). */
  loaded: boolean;
  users: Set<UserEntry>;
}

const key = (appId: string, id: string) => `${appId}\n${id}`;
const covers = (s: MembershipSpan | undefined, pos: number) =>
  s !== undefined && s.joinedPos <= pos && (s.leftPos === null || pos <= s.leftPos);
/** Which of two spans of one membership is the later state (a re-add joins later; a removal follows a join). */
const later = (a: MembershipSpan, b: MembershipSpan) =>
  a.joinedPos !== b.joinedPos ? (a.joinedPos > b.joinedPos ? a : b) : a.leftPos !== null ? a : b;

/** Forget idle conversation entries beyond this many; they are read again on their next event. */
const maxConversationEntries = 100_000;

export class Hub {
  /** Every event up to this position has been handed to the subscribers. */
  dispatchedPos = 0;
  private readonly users = new Map<string, UserEntry>();
  private readonly conversations = new Map<string, ConversationEntry>();
  /** Tasks that need the store run one at a time, in order with the events around them. */
  private readonly queue: Array<() => void | Promise<void>> = [];
  private running = false;
  /** Presence changes heard since the last flush: handled together, with one store read per app. */
  private presence: Array<HeardChange & { appId: string }> = [];
  /** Presence changes heard so far; a subscriber is marked with the count it attached at (news is later). */
  private presenceHeard = 0;
  private readonly presenceMarks = new WeakMap<Subscriber, number>();
  /** When the last presence window closed (performance.now()). */
  private presenceClosedAt = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly deps: {
      reader: StreamReader;
      logger: Logger;
      cursors: CursorCodec;
      /** Presence windows close at most this often; the changes heard within one go out together. */
      presenceBatchMs?: number;
    },
  ) {}

  /** The cursors of this store's stream (they carry its epoch). */
  get cursors(): CursorCodec {
    return this.deps.cursors;
  }

  /** Registers a subscriber; resolves with the position after which it receives events. */
  attach(sub: Subscriber): Promise<number> {
    return new Promise((resolve, reject) => {
      this.push(async () => {
        try {
          if (sub.closed) return resolve(this.dispatchedPos);
          const k = key(sub.appId, sub.userId);
          let user = this.users.get(k);
          if (!user) {
            // As they stood at what has been routed: later changes arrive as events, in order.
            const spans = await this.deps.reader.membershipsOfUser(sub.appId, sub.userId, this.dispatchedPos);
            user = { appId: sub.appId, userId: sub.userId, spans, subscribers: new Set() };
            this.users.set(k, user);
            for (const conversationId of spans.keys())
              this.conversation(sub.appId, conversationId).users.add(user);
          }
          if (!sub.closed) {
            user.subscribers.add(sub);
            this.presenceMarks.set(sub, this.presenceHeard);
          }
          resolve(this.dispatchedPos);
        } catch (err) {
          reject(err);
        }
      });
    });
  }

  detach(sub: Subscriber): void {
    const k = key(sub.appId, sub.userId);
    const user = this.users.get(k);
    if (!user || !user.subscribers.delete(sub) || user.subscribers.size > 0) return;
    this.users.delete(k);
    for (const conversationId of user.spans.keys())
      this.conversations.get(key(user.appId, conversationId))?.users.delete(user);
  }

  /** From the sequencer, in stream order. */
  onEvent(e: StreamEvent): void {
    const conv = this.conversations.get(key(e.appId, e.event.conversationId));
    if (!this.running && this.queue.length === 0 && conv?.loaded) this.deliver(e, conv);
    else this.push(() => this.dispatch(e));
  }

  onReceipt(r: ReceiptMessage): void {
    this.push(async () => {
      const conv = await this.loaded(r.appId, r.conversationId);
      if (conv.users.size === 0) return;
      const d = new ReceiptDelivery({
        conversationId: r.conversationId,
        userId: r.userId,
        deliveredSeq: r.deliveredSeq,
        readSeq: r.readSeq,
      });
      for (const user of conv.users) {
        if (user.spans.get(r.conversationId)?.leftPos !== null) continue;
        for (const sub of user.subscribers) sub.receipt(d);
      }
    });
  }

  /** Typing goes to the conversation's other current members; presence to those sharing a conversation. */
  onSignal(m: SignalMessage): void {
    if (m.kind === 'presence') {
      // Changes of one window are handled together: one store read per app for all of them, and each
      // member's frames leave in one write. A window closes at most once per batch time: a change after a
      // quiet one goes out at the end of this turn, one within it waits for the batch time to pass.
      const { appId, userId, online, at } = m;
      if (this.presence.push({ appId, userId, online, at, seq: ++this.presenceHeard }) > 1) return;
      const flush = () => {
        this.presenceClosedAt = performance.now();
        this.push(() => this.flushPresence());
      };
      const wait = this.presenceClosedAt + (this.deps.presenceBatchMs ?? 0) - performance.now();
      if (wait > 0) setTimeout(flush, wait).unref();
      else setImmediate(flush).unref();
      return;
    }
    this.push(async () => {
      const conv = await this.loaded(m.appId, m.conversationId);
      const batch = new SignalBatch('typing', [
        new SignalDelivery('typing', { conversationId: m.conversationId, userId: m.userId }),
      ]);
      for (const user of conv.users) {
        if (user.userId === m.userId || user.spans.get(m.conversationId)?.leftPos !== null) continue;
        for (const sub of user.subscribers) sub.signal?.(batch);
      }
    });
  }

  /**
   * Fan-out of presence is bounded by who is connected here, not by conversations × members: for the changed
   * users, their current conversations (one indexed read per app per window), and in each, only the members
   * attached to this instance (presence-fanout.ts decides who gets which frames).
   */
  private async flushPresence(): Promise<void> {
    const heard = this.presence;
    this.presence = [];
    if (this.users.size === 0) return;
    const byApp = new Map<string, HeardChange[]>();
    for (const c of heard) {
      const list = byApp.get(c.appId);
      if (list) list.push(c);
      else byApp.set(c.appId, [c]);
    }
    for (const [appId, changes] of byApp) {
      const userIds = [...new Set(changes.map((c) => c.userId))];
      const conversationsOf = await this.deps.reader.currentConversationsOfUsers(appId, userIds);
      const batches = presenceFanOut<Subscriber>({
        changes,
        conversationsOf,
        membersOf: (conversationId) => {
          const conv = this.conversations.get(key(appId, conversationId));
          return conv && conv.users.size > 0 ? conv.users : undefined;
        },
        markOf: (sub) => this.presenceMarks.get(sub) ?? 0,
      });
      for (const [sub, batch] of batches) sub.signal?.(batch);
    }
  }

  private dispatch(e: StreamEvent): void | Promise<void> {
    const conv = this.conversations.get(key(e.appId, e.event.conversationId));
    if (conv?.loaded) return this.deliver(e, conv);
    return this.loaded(e.appId, e.event.conversationId).then((c) => this.deliver(e, c));
  }

  private deliver(e: StreamEvent, conv: ConversationEntry): void {
    const { event, pos } = e;
    if (event.type === 'member.added' || event.type === 'member.removed') this.applyMembership(e, conv);
    if (conv.users.size > 0) {
      let d: Delivery | undefined;
      for (const user of conv.users) {
        if (!covers(user.spans.get(event.conversationId), pos)) continue;
        d ??= Delivery.of(e, this.deps.cursors);
        for (const sub of user.subscribers) sub.deliver(d);
      }
    }
    this.dispatchedPos = pos;
  }

  /** member.added / member.removed move the member's span, so this event and later ones route right. */
  private applyMembership(e: StreamEvent, conv: ConversationEntry): void {
    const userId = e.event.userId;
    if (!userId) return;
    const user = this.users.get(key(e.appId, userId));
    if (!user) return;
    const conversationId = e.event.conversationId;
    const span = user.spans.get(conversationId);
    if (e.event.type === 'member.added') {
      // The store read may already know a later state than this event; never move a span back.
      if (!span || (span.leftPos !== null && span.leftPos < e.pos))
        user.spans.set(conversationId, { joinedPos: e.pos, leftPos: null });
      conv.users.add(user);
    } else if (span && span.joinedPos <= e.pos && span.leftPos === null) {
      user.spans.set(conversationId, { joinedPos: span.joinedPos, leftPos: e.pos });
    }
  }

  /** The conversation's entry with every attached member in it (one store read the first time). */
  private async loaded(appId: string, conversationId: string): Promise<ConversationEntry> {
    const conv = this.conversation(appId, conversationId);
    if (conv.loaded) return conv;
    const members = await this.deps.reader.membersOfConversation(appId, conversationId);
    for (const [userId, span] of members) {
      const user = this.users.get(key(appId, userId));
      if (!user) continue;
      const known = user.spans.get(conversationId);
      // A span that begins after what has been routed is the store's future: the known one (kept up to date
      // by the membership events routed since the user's read) is the present.
      if (known && span.joinedPos > this.dispatchedPos) user.spans.set(conversationId, known);
      else user.spans.set(conversationId, known ? later(known, span) : span);
      conv.users.add(user);
    }
    conv.loaded = true;
    return conv;
  }

  private conversation(appId: string, conversationId: string): ConversationEntry {
    const k = key(appId, conversationId);
    let conv = this.conversations.get(k);
    if (!conv) {
      if (this.conversations.size >= maxConversationEntries) this.forgetIdleConversations();
      this.conversations.set(k, (conv = { loaded: false, users: new Set() }));
    }
    return conv;
  }

  private forgetIdleConversations(): void {
    for (const [k, conv] of this.conversations) if (conv.users.size === 0) this.conversations.delete(k);
  }

  private push(task: () => void | Promise<void>): void {
    this.queue.push(task);
    if (!this.running) void this.run();
  }

  private async run(): Promise<void> {
    this.running = true;
    try {
      for (let task = this.queue.shift(); task; task = this.queue.shift()) {
        try {
          await task();
        } catch (err) {
          // A failed store read must not stop delivery of everything behind it; clients repair by resume.
          this.deps.logger.error({ err }, 'realtime dispatch failed');
        }
      }
    } finally {
      this.running = false;
    }
  }
}
