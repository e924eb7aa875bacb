// A realtime session lasts as long as its token: this watch ends it when the token expires, unless the
// client sent a fresher token first (an `auth` frame). Shared by the WebSocket and SSE transports.
import type { Clock } from '../clock.js';

export interface ExpiryWatch {
  /** Moves the end to a fresh token's expiry (ms). */
  renew(expiresAt: number | undefined): void;
  close(): void;
}

/** setTimeout's longest delay; a 30-day token is watched in steps of it. */
const maxDelayMs = 2 ** 31 - 1;

/** Calls `onExpired` once at `expiresAt` (ms, by `clock`), unless renewed or closed before. */
export function watchExpiry(clock: Clock, expiresAt: number | undefined, onExpired: () => void): ExpiryWatch {
  let end = expiresAt;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const arm = () => {
    clearTimeout(timer);
    if (end === undefined) return;
    const left = end - clock.now();
    if (left <= 0) return onExpired();
    timer = setTimeout(arm, Math.min(left, maxDelayMs));
    timer.unref();
  };
  arm();
  return {
    renew(next) {
      end = next;
      arm();
    },
    close() {
      end = undefined;
      clearTimeout(timer);
    },
  };
}
