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

export interface Bus {
  publish(message: BusMessage): Promise<void>;
  /** Returns an unsubscribe function. */
  subscribe(listener: (message: BusMessage) => void): () => void;
  close(): Promise<void>;
}
