// Rows leased to this instance as they are written (the local fast path): the outbox's, handed to the
// dispatcher when their commit is heard on the bus, and a replay's, read back from the store by their lease.
// Neither is claimed. A crash, or a hand-over that never comes, leaves them to claims once their lease ends.
import type { Clock } from '../clock.js';
import type { WireEvent } from '../conversations/events.js';
import type { WebhookDeliveriesTable } from '../store/schema.js';
import type { Deliveries, DeliveryWithEvent } from './deliveries.js';

/**
 * A row leased at insert (`written`) whose event has not reached the bus listener this long is let go: its
 * transaction rolled back, or its rows are claimed like any other once their lease ends.
 */
const handOffWithinMs = 10_000;

/** The dispatcher as the outbox writer sees it: rows written in a transaction, leased to this instance. */
export interface LocalDispatch {
  /** How many more rows of the endpoint this instance takes now, leased at insert (0: write them due). */
  room(appId: string, endpointId: string): number;
  /**
   * Inside the event's transaction: its rows leased to this instance (`rows`), and whether rows for an
   * ordered endpoint were written due. When the event's commit reaches this instance (the bus: published
   * after commit, heard by this instance even when the bus cannot reach others), its leased rows are sent
   * without being read back from the store, and only `claim` wakes a claim. A transaction that rolls back
   * leaves nothing: its rows never existed, and a later try of it replaces what it left here.
   */
  written(eventId: string, rows: WebhookDeliveriesTable[], claim: boolean): void;
}

/** What the outbox writer left with this instance for one event. */
interface Written {
  rows: WebhookDeliveriesTable[];
  /**
   * Rows of the event were written due for an ordered endpoint: a claim takes them now. (Rows written due
   * for want of room here wake no claim: their endpoint is full, and its next free slot claims.)
   */
  claim: boolean;
  at: number;
}

/** Rows leased at insert to this instance and left in the store, read back as there is room (a replay). */
interface Stored {
  appId: string;
  endpointId: string;
  /** The lease: rows not read by then (less a timeout) are left to claims. */
  until: number;
  /** Rows are read in id order (ids grow within a process): the last one read. */
  after: string;
  /** Committed and not read yet. */
  unread: number;
  /** No more rows will come. */
  complete: boolean;
}

export interface LocalLeasesOptions {
  deliveries: Deliveries;
  clock: Clock;
  /** A row is sent only with at least this much of its lease left. */
  timeoutMs: number;
  /** Rows of the endpoint the dispatcher takes now. */
  room(appId: string, endpointId: string): number;
  /** Counts a row as held for its commit (+1), or no longer (-1). */
  hold(row: WebhookDeliveriesTable, delta: 1 | -1): void;
  /** Queues a committed row with its body. */
  enqueue(row: WebhookDeliveriesTable, body: string): void;
  /** Queues rows read back from the store with their events. */
  enqueueRead(rows: DeliveryWithEvent[]): void;
  /** Claims due rows (for events this instance did not write). */
  wake(): void;
  /** Runs the dispatcher's fetching turn (which reads back stored rows). */
  pump(): void;
}

/** The body of every attempt of one event: `{"type","timestamp","data":<event>}`. */
export function bodyOf(data: WireEvent): string {
  return JSON.stringify({ type: data.type, timestamp: data.createdAt, data });
}

export function createLocalLeases(o: LocalLeasesOptions) {
  /** By event id. */
  const writtenHere = new Map<string, Written>();
  /** By lease token. */
  const stored = new Map<string, Stored>();

  function letGo(eventId: string, w: Written): void {
    writtenHere.delete(eventId);
    for (const row of w.rows) o.hold(row, -1);
  }

  return {
    written(eventId: string, rows: WebhookDeliveriesTable[], claim: boolean): void {
      // An earlier try of the same transaction rolled back: its rows do not exist.
      const before = writtenHere.get(eventId);
      if (before) letGo(eventId, before);
      for (const row of rows) o.hold(row, 1);
      writtenHere.set(eventId, { rows, claim, at: performance.now() });
    },

    /** Committed events heard on the bus: the rows leased here are sent; anything else may need a claim. */
    committed(events: readonly WireEvent[]): void {
      let claim = false;
      for (const event of events) {
        const w = writtenHere.get(event.id);
        if (!w) {
          // Written elsewhere (or before this dispatcher started): its rows, if any, are due in the store.
          claim = true;
          continue;
        }
        letGo(event.id, w);
        if (w.claim) claim = true;
        if (w.rows.length === 0) continue;
        // The event as it was committed: no read of it from the store.
        const body = bodyOf(event);
        for (const row of w.rows) o.enqueue(row, body);
      }
      if (claim) o.wake();
    },

    /** Lets go of rows whose commit never came (rolled back, or claimed once their lease ends). */
    letGoStale(): void {
      const before = performance.now() - handOffWithinMs;
      for (const [eventId, w] of writtenHere) if (w.at < before) letGo(eventId, w);
    },

    /** A replay's rows leased to this instance: `committed` after each page, `complete` after the last. */
    leasedInStore(token: string, appId: string, endpointId: string, until: number) {
      const st: Stored = { appId, endpointId, until, after: '', unread: 0, complete: false };
      stored.set(token, st);
      return {
        committed(count: number): void {
          st.unread += count;
          o.pump();
        },
        complete(): void {
          st.complete = true;
          if (st.unread === 0) stored.delete(token);
        },
      };
    },

    /** Reads back what this instance leased and left in the store, as far as its endpoints have room. */
    async readStored(): Promise<void> {
      for (const [token, st] of stored) {
        // Too late to send before the lease ends: the rest goes to whoever claims it after.
        if (st.until - o.clock.now() < o.timeoutMs) {
          stored.delete(token);
          continue;
        }
        const n = Math.min(o.room(st.appId, st.endpointId), st.unread);
        if (n > 0) {
          const rows = await o.deliveries.leased(st.appId, st.endpointId, token, st.after, n);
          // Fewer than committed: the rest is gone (the endpoint deleted or disabled).
          st.unread = rows.length < n ? 0 : st.unread - n;
          if (rows.length > 0) {
            st.after = rows[rows.length - 1]!.row.id;
            o.enqueueRead(rows);
          }
        }
        if (st.unread === 0 && st.complete) stored.delete(token);
      }
    },

    /**
     * At close: gives back what is leased here and not handed over (due at once rather than after the
     * lease). A row whose transaction never committed is not there to release.
     */
    async release(now: number): Promise<void> {
      await o.deliveries.release(
        [...writtenHere.values()].flatMap((w) => w.rows),
        now,
      );
      for (const [token, st] of stored)
        await o.deliveries.releaseLease(st.appId, st.endpointId, token, st.after, now);
    },
  };
}

export type LocalLeases = ReturnType<typeof createLocalLeases>;
