// Message expiry, the rule: a message older than its conversation's retention is expired. The sweep
// (expiry-sweeper.ts) erases expired bodies from storage; reads apply the same rule at read time, so a
// message between its expiry and the next sweep is already shown expired, and devices apply it to what
// they hold (README "Message expiry": why a rule and not a sequenced event per expiry).
import type { Clock } from '../clock.js';
import type { WireEvent } from './events.js';

export interface ExpiryRule {
  /** The deployment's default retention in seconds (`ONCELY_MESSAGE_RETENTION_SECONDS`); 0: forever. */
  readonly defaultSeconds: number;
  /** A conversation's retention in seconds from its stored setting (null: the default); 0: forever. */
  secondsOf(stored: number | null): number;
  /**
   * The event as a reader may see it now: a message past its retention loses its body and says
   * `expired: true`, whether or not the sweep has erased it yet.
   */
  apply(event: WireEvent, retentionSeconds: number): WireEvent;
}

export function createExpiryRule({
  defaultSeconds,
  clock,
}: {
  defaultSeconds: number;
  clock: Clock;
}): ExpiryRule {
  return {
    defaultSeconds,
    secondsOf: (stored) => (stored === null ? defaultSeconds : Number(stored)),
    apply(event, retentionSeconds) {
      if (event.type !== 'message.created' || event.expired || event.recalled || retentionSeconds <= 0)
        return event;
      if (Date.parse(event.createdAt) + retentionSeconds * 1000 > clock.now()) return event;
      return { ...event, body: null, expired: true };
    },
  };
}
