// How times read on the page, in the reader's own locale and time zone: a message's time of day with the
// full date and time on hover, a separator per day in a conversation, and a short "when" in the list.

const dayMs = 86_400_000;

/** Midnight of the local day holding `t`. */
function startOfDay(t: number): number {
  const d = new Date(t);
  return new Date(d.getFullYear(), d.getMonth(), d.getDate()).getTime();
}

/** Whole local days from `t` to `now` (0: the same day, 1: yesterday). */
function daysAgo(t: number, now: number): number {
  return Math.round((startOfDay(now) - startOfDay(t)) / dayMs);
}

export function timeOfDay(iso: string): string {
  return new Date(iso).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

/** The full date and time, for a tooltip. */
export function fullTime(iso: string): string {
  return new Date(iso).toLocaleString([], { dateStyle: 'full', timeStyle: 'medium' });
}

export function sameDay(a: string, b: string): boolean {
  return startOfDay(Date.parse(a)) === startOfDay(Date.parse(b));
}

/** The separator above a day's first message: "Today", "Yesterday", else the date. */
export function dayLabel(iso: string, now = Date.now()): string {
  const t = Date.parse(iso);
  const ago = daysAgo(t, now);
  if (ago === 0) return 'Today';
  if (ago === 1) return 'Yesterday';
  const sameYear = new Date(t).getFullYear() === new Date(now).getFullYear();
  return new Date(t).toLocaleDateString([], {
    weekday: 'long',
    day: 'numeric',
    month: 'long',
    ...(sameYear ? {} : { year: 'numeric' }),
  });
}

/** The list's "when" of a last message: the time today, the weekday this week, else the date. */
export function listTime(iso: string, now = Date.now()): string {
  const t = Date.parse(iso);
  const ago = daysAgo(t, now);
  if (ago === 0) return timeOfDay(iso);
  if (ago === 1) return 'Yesterday';
  if (ago < 7) return new Date(t).toLocaleDateString([], { weekday: 'short' });
  return new Date(t).toLocaleDateString([], { day: 'numeric', month: 'short', year: '2-digit' });
}
