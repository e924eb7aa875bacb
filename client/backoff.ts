// The reconnect schedule: exponential backoff with jitter, so a restarted server is not hit by every
// client at the same instant.

export interface BackoffOptions {
  /** First delay (ms). Default 500. */
  initialMs?: number;
  /** Largest delay (ms). Default 30 000. */
  maxMs?: number;
  /** Growth per attempt. Default 2. */
  factor?: number;
  /** Share of the delay that is random, 0..1. Default 0.5 ("equal jitter": at least half the delay). */
  jitter?: number;
}

/** The delay before reconnect attempt `attempt` (0-based). `random` returns a number in [0, 1). */
export function backoffDelay(
  attempt: number,
  options: BackoffOptions = {},
  random: () => number = Math.random,
): number {
  const initial = options.initialMs ?? 500;
  const max = options.maxMs ?? 30_000;
  const factor = options.factor ?? 2;
  const jitter = Math.min(1, Math.max(0, options.jitter ?? 0.5));
  const base = Math.min(max, initial * factor ** Math.max(0, attempt));
  return Math.round(base * (1 - jitter) + base * jitter * random());
}
