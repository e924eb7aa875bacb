// When a failed delivery is tried again: the configured schedule of delays, spread by jitter so that the
// deliveries that failed together (a receiver's outage) do not all come back in the same second.

/** The share of a delay by which jitter may move it, either way. */
export const jitterShare = 0.2;

/** Attempts a delivery gets: the first, then one per entry of the schedule. */
export const triesFor = (schedule: readonly number[]) => schedule.length + 1;

/**
 * After a failed attempt with `triesLeft` tries left before it (counting that attempt), the milliseconds to
 * wait, or undefined when it was the last: the delivery is then `failed`. `random` is in [0, 1).
 */
export function retryDelayMs(
  schedule: readonly number[],
  triesLeft: number,
  random: () => number = Math.random,
): number | undefined {
  const remaining = triesLeft - 1;
  if (remaining <= 0) return undefined;
  // A run of `triesFor(schedule)` tries waits schedule[0] after the first failure, schedule[1] after the next …
  // A manual retry (one try) fails straight to `failed`.
  const index = Math.max(0, schedule.length - remaining);
  const seconds = schedule[index] ?? schedule[schedule.length - 1] ?? 0;
  const factor = 1 + jitterShare * (2 * random() - 1);
  return Math.round(seconds * 1000 * factor);
}
