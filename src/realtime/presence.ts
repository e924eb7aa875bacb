// Presence: who has a live session (WebSocket or SSE). The realtime sessions (sessions.ts) tell it when a
// user's first session on this instance opens and its last one closes; it decides whether that changes the
// user's state across every instance and, when it does, publishes a `presence` message on the bus for the
// other members' sessions.
import type { Clock } from '../clock.js';
import type { Bus } from './bus.js';

export interface PresenceState {
  userId: string;
  online: boolean;
  /** ISO time: now while online; when the last session ended; null when never seen (or forgotten). */
  lastSeenAt: string | null;
}

/**
 * Two implementations: in-process (one instance) and Redis (several; redis-presence.ts). `opened` and
 * `closed` are called in order per user by this instance and never reject (a store outage is logged and
 * the state repaired by expiry or the next change). A `presence` bus message is published only when the
 * user's state changes across all instances: first session anywhere, last one anywhere gone.
 */
export interface Presence {
  /** The user's first session on this instance opened. */
  opened(appId: string, userId: string): void;
  /** The user's last session on this instance closed. */
  closed(appId: string, userId: string): void;
  /** The current state of each of these users, in the given order. */
  states(appId: string, userIds: string[]): Promise<PresenceState[]>;
  /** Settles what is in flight and stops timers; sessions still open count as closed. */
  close(): Promise<void>;
}

const key = (appId: string, userId: string) => `${appId}\n${userId}`;

/**
 * Each user's live sessions on this instance, counted: presence hears of the first one opening and of the
 * last one closing, never of a second device.
 */
export class LocalSessions {
  private readonly counts = new Map<string, number>();

  constructor(private readonly presence: Presence) {}

  /** Counts a session that opened; returns its end (calling it again does nothing). */
  open(appId: string, userId: string): () => void {
    const k = key(appId, userId);
    const n = (this.counts.get(k) ?? 0) + 1;
    this.counts.set(k, n);
    if (n === 1) this.presence.opened(appId, userId);
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      const left = (this.counts.get(k) ?? 1) - 1;
      if (left > 0) return void this.counts.set(k, left);
      this.counts.delete(k);
      this.presence.closed(appId, userId);
    };
  }
}

/** The in-process presence of a single instance: its own sessions are all there is. */
export function createMemoryPresence({ bus, clock }: { bus: Bus; clock: Clock }): Presence {
  const online = new Set<string>();
  /** When each user's last session ended; kept for the instance's life (one number per user ever seen). */
  const lastSeen = new Map<string, number>();
  const publish = (appId: string, userId: string, isOnline: boolean, at: number) =>
    void bus.publish({ kind: 'presence', appId, userId, online: isOnline, at });

  return {
    opened(appId, userId) {
      const k = key(appId, userId);
      if (online.has(k)) return;
      online.add(k);
      publish(appId, userId, true, clock.now());
    },
    closed(appId, userId) {
      const k = key(appId, userId);
      if (!online.delete(k)) return;
      const now = clock.now();
      lastSeen.set(k, now);
      publish(appId, userId, false, now);
    },
    async states(appId, userIds) {
      const now = clock.now();
      return userIds.map((userId) => {
        const k = key(appId, userId);
        const isOnline = online.has(k);
        const seen = isOnline ? now : lastSeen.get(k);
        return {
          userId,
          online: isOnline,
          lastSeenAt: seen === undefined ? null : new Date(seen).toISOString(),
        };
      });
    },
    async close() {
      online.clear();
    },
  };
}
