// In-order, exactly-once delivery to the application: events of a conversation are released in seq
// order, repeats (same id or an already applied seq) are dropped, and a jump in seq is reported as a gap
// for the caller to fill from history. Pure logic, no I/O.
import type { WireEvent } from './protocol.js';

export interface Gap {
  conversationId: string;
  /** The last seq applied; fetch history `after` this. */
  afterSeq: number;
  /** The first seq held back; the gap ends just before it. */
  beforeSeq: number;
}

export interface Offered {
  /** Events now ready for the application, in order. */
  ready: WireEvent[];
  /** Set when this event opened (or still waits on) a gap. */
  gap?: Gap;
}

export class ConversationOrder {
  /** conversationId → last applied seq. */
  private readonly last = new Map<string, number>();
  /** conversationId → events held back until the gap before them is filled. */
  private readonly held = new Map<string, Map<number, WireEvent>>();
  private readonly seenIds = new Set<string>();

  /** `known`: the last applied seq per conversation (from a saved state); unknown ones start at their first event. */
  constructor(
    known: Record<string, number> = {},
    private readonly maxRememberedIds = 10_000,
  ) {
    for (const [id, seq] of Object.entries(known)) this.last.set(id, seq);
  }

  /** Offers one event, from any source (live, replay, history fill). */
  offer(event: WireEvent): Offered {
    if (this.seenIds.has(event.id)) return { ready: [] };
    const conv = event.conversationId;
    const last = this.last.get(conv);
    if (last !== undefined && event.seq <= last) return { ready: [] };
    if (last === undefined || event.seq === last + 1) {
      const ready = [event];
      this.apply(event);
      this.drain(conv, ready);
      return { ready };
    }
    let held = this.held.get(conv);
    if (!held) this.held.set(conv, (held = new Map()));
    held.set(event.seq, event);
    return { ready: [], gap: this.gapOf(conv) };
  }

  /**
   * Seqs up to `seq` will never come: the server showed the next visible event after `seq` (the user was not
   * a member between). Moves past them and returns the held events that are now ready.
   */
  skipTo(conversationId: string, seq: number): WireEvent[] {
    const last = this.last.get(conversationId);
    if (last === undefined || seq <= last) return [];
    this.last.set(conversationId, seq);
    const ready: WireEvent[] = [];
    this.drain(conversationId, ready);
    return ready;
  }

  /** The gap a conversation waits on, if any. */
  gapOf(conversationId: string): Gap | undefined {
    const held = this.held.get(conversationId);
    const last = this.last.get(conversationId);
    if (!held || held.size === 0 || last === undefined) return undefined;
    return { conversationId, afterSeq: last, beforeSeq: Math.min(...held.keys()) };
  }

  /** True while some conversation holds events back behind a gap. */
  hasHeld(): boolean {
    for (const h of this.held.values()) if (h.size > 0) return true;
    return false;
  }

  lastSeq(conversationId: string): number | undefined {
    return this.last.get(conversationId);
  }

  /** The last applied seq of every conversation, to save beside the cursor. */
  snapshot(): Record<string, number> {
    return Object.fromEntries(this.last);
  }

  private apply(event: WireEvent): void {
    this.last.set(event.conversationId, event.seq);
    this.seenIds.add(event.id);
    if (this.seenIds.size > this.maxRememberedIds) {
      // Sets iterate in insertion order: forget the oldest id; seq order still rejects old repeats.
      const oldest = this.seenIds.values().next().value;
      if (oldest !== undefined) this.seenIds.delete(oldest);
    }
  }

  private drain(conv: string, ready: WireEvent[]): void {
    const held = this.held.get(conv);
    if (!held) return;
    for (;;) {
      const next = held.get((this.last.get(conv) ?? 0) + 1);
      if (!next) break;
      held.delete(next.seq);
      this.apply(next);
      ready.push(next);
    }
    // Anything left at or below the applied seq is a repeat.
    const last = this.last.get(conv) ?? 0;
    for (const seq of held.keys()) if (seq <= last) held.delete(seq);
    if (held.size === 0) this.held.delete(conv);
  }
}
