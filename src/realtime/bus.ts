// The Bus contract: after a commit, an event is published; every instance hears it and wakes its local
// connections of the conversation's members. The bus only wakes: the store stays the truth, and a lost
// bus message is repaired by the client's resume or gap fetch.
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
    };

/**
 * Delivery is at most once and, from one publisher, in publish order: listeners on every instance hear a
 * publisher's messages in the order it published them, or miss some (a remote bus may drop them while
 * disconnected). A resolved publish means handed to the transport, not heard. Events from different
 * publishers may interleave in any order; the sequencer puts them back into stream order.
 */
export interface Bus {
  publish(message: BusMessage): Promise<void>;
  /** Publishes several messages, in order, as one call (one write on a remote bus): a group's events. */
  publishMany(messages: BusMessage[]): Promise<void>;
  /** Returns an unsubscribe function. */
  subscribe(listener: (message: BusMessage) => void): () => void;
  /** Throws when the bus cannot carry messages right now (readiness). */
  ping(): Promise<void>;
  close(): Promise<void>;
}
