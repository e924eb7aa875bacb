// Typing: a member says it is typing in a conversation; the other members with a live session hear it,
// on every instance, through the bus. Never stored and never sequenced: a lost one is forgotten, as a
// client shows it for a few seconds only.
import type { Clock } from '../clock.js';
import type { UserPrincipal } from '../apps/principal.js';
import { requireMember } from '../conversations/membership.js';
import type { Store } from '../store/store.js';
import type { Bus } from './bus.js';

export interface TypingOptions {
  store: Store;
  bus: Bus;
  clock: Clock;
  /** One typing signal per user and conversation in this many ms; extra ones are dropped. @defaultValue 1000 */
  intervalMs?: number;
}

export const typingDefaults = { intervalMs: 1000 };

export interface Typing {
  /**
   * Relays that `user` is typing in the conversation, at most once per interval per user and
   * conversation on this instance (extra ones resolve having done nothing). Rejects with `not_member`
   * (403) for a user who is not a current member.
   */
  typing(user: UserPrincipal, conversationId: string): Promise<void>;
}

export function createTyping(options: TypingOptions): Typing {
  const { store, bus, clock } = options;
  const intervalMs = options.intervalMs ?? typingDefaults.intervalMs;
  /** When each (app, conversation, user) last got through; entries older than the interval are pruned. */
  const last = new Map<string, number>();
  let prunedAt = 0;

  function prune(now: number): void {
    if (now - prunedAt < intervalMs) return;
    prunedAt = now;
    for (const [k, at] of last) if (now - at >= intervalMs) last.delete(k);
  }

  return {
    async typing(user, conversationId) {
      const now = clock.now();
      prune(now);
      const k = `${user.appId}\n${conversationId}\n${user.userId}`;
      const previous = last.get(k);
      // The limit comes before the membership read, so a flood costs a map lookup, not a query.
      if (previous !== undefined && now - previous < intervalMs) return;
      last.set(k, now);
      // Invariant 4: only a current member may signal into a conversation.
      await requireMember(store.db, user.appId, conversationId, user.userId);
      await bus.publish({ kind: 'typing', appId: user.appId, conversationId, userId: user.userId });
    },
  };
}
