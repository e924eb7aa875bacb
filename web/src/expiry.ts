// Message expiry on the page. The server erases a message's body once it is older than its conversation's
// retention and sends no event for it (README "Message expiry"); the page applies the same rule to what it
// holds, so a message shows as expired on time whether it came before or after the sweep.
import type { WireEvent } from '../../client/index.js';

/** The event as it should show at `now`: past the retention, a message loses its body and is expired. */
export function asSeenAt(event: WireEvent, retentionSeconds: number | undefined, now: number): WireEvent {
  if (event.type !== 'message.created' || event.expired || event.recalled) return event;
  if (!retentionSeconds || Date.parse(event.createdAt) + retentionSeconds * 1000 > now) return event;
  return { ...event, body: null, expired: true };
}

const units: Array<[seconds: number, name: string]> = [
  [604_800, 'week'],
  [86_400, 'day'],
  [3_600, 'hour'],
  [60, 'minute'],
  [1, 'second'],
];

/** A retention as people say it: "1 hour", "90 minutes", "7 days" (the largest unit it is a whole number of). */
export function retentionText(seconds: number): string {
  const [size, name] = units.find(([size]) => seconds % size === 0) ?? [1, 'second'];
  const n = seconds / size;
  return `${n} ${name}${n === 1 ? '' : 's'}`;
}
