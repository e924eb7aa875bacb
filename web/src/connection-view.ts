// The connection indicator's four words, from the client library's connection state and the browser's
// own idea of being online. Pure, so the mapping is easy to read and to test.
import type { ConnectionState } from '../../client/index.js';

export type ConnectionKind = 'connecting' | 'connected' | 'reconnecting' | 'long-poll' | 'offline';

export interface ConnectionView {
  kind: ConnectionKind;
  label: string;
  /** Whole seconds until the next attempt, while reconnecting. */
  retryInSeconds?: number;
}

export function connectionView(state: ConnectionState, online: boolean, now: number): ConnectionView {
  if (!online) return { kind: 'offline', label: 'Offline' };
  if (state.status === 'open') {
    return state.transport === 'longpoll'
      ? { kind: 'long-poll', label: 'Long-poll fallback' }
      : { kind: 'connected', label: 'Connected' };
  }
  if (state.status === 'waiting') {
    const retryInSeconds =
      state.nextRetryAt === null ? 0 : Math.max(0, Math.ceil((state.nextRetryAt - now) / 1000));
    return { kind: 'reconnecting', label: `Reconnecting in ${retryInSeconds} s`, retryInSeconds };
  }
  if (state.status === 'connecting' && state.attempt > 0)
    return { kind: 'reconnecting', label: 'Reconnecting…' };
  if (state.status === 'closed') return { kind: 'offline', label: 'Disconnected' };
  return { kind: 'connecting', label: 'Connecting…' };
}
