// The Bus contract: after a commit, an event is published; every instance hears it and wakes its local
// connections of the conversation's members. The bus only wakes: the store stays the truth, and a lost
// bus message is repaired from the store (the sequencer's gap fill, the client's resume or gap fetch).
import type { WireEvent } from '../conversations/events.js';

export type BusMessage =
  | { kind: 'event'; appId: string; event: WireEvent; pos: number }
  | {
      kind: 'receipt';
      appId: string;
      conversationId: string;
      userId: string;
      deliveredSeq: number;
      readSeq: number;
    }
  /** A member is typing (not stored, not sequenced). */
  | { kind: 'typing'; appId: string; conversationId: string; userId: string }
  /** A user's first session opened or last one closed, on any instance (not stored, not sequenced). */
  | { kind: 'presence'; appId: string; userId: string; online: boolean; at: number };

/** What a subscriber is told. */
export interface BusListener {
  /** One message. From one publisher, messages arrive in the order it published them. */
  message(m: BusMessage): void;
  /**
   * Messages may have been lost since the last call (a remote bus reconnected): the subscriber should read
   * what it missed from the store now rather than wait to notice a gap.
   */
  lost(): void;
}

/**
 * Guarantees, as a caller may rely on them:
 * - Order: a publisher's messages reach each listener in the order it published them (one `publishMany`
 *   keeps its array order). Messages of different publishers (instances) interleave in any order; the
 *   sequencer puts events back into stream order by position.
 * - Loss: at most once. A remote bus drops what is published while it cannot reach its transport and what
 *   is in flight when a connection breaks; every listener is then told `lost()` once its subscription is
 *   live again. Messages published on this instance reach this instance's listeners even then.
 * - Repeats: none from the bus itself; listeners still treat an event position they already have as
 *   nothing new (the sequencer does), since the store may hand them the same event by gap fill.
 * - `publish`/`publishMany` never reject: an outage is not the publisher's problem (the store is the
 *   truth). A resolved publish means the listeners of this instance have been called, and the message was
 *   either accepted by the transport — queued to every instance subscribed at that moment — or dropped
 *   because the transport was unreachable (counted and logged by the adapter).
 * - `subscribe` resolves once the subscription is live: a message published after it resolves reaches
 *   the listener (unless lost as above). A subscriber reads the store's head only after that, so nothing
 *   falls between its read and its first message.
 */
export interface Bus {
  publish(message: BusMessage): Promise<void>;
  /** Publishes several messages, in order, as one call (one write on a remote bus): a group's events. */
  publishMany(messages: BusMessage[]): Promise<void>;
  /** Resolves with the unsubscribe function once the subscription is live. */
  subscribe(listener: BusListener): Promise<() => void>;
  /** Throws when the bus cannot carry messages between instances right now (readiness). */
  ping(): Promise<void>;
  close(): Promise<void>;
}
