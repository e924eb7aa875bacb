// What an application passes to `new OncelyClient(…)`: the server, the token, and the few knobs of the
// connection policy; plus the WebSocket and state-store shapes it may supply.
import type { BackoffOptions } from './backoff.js';

/** The part of the WebSocket API the client uses (the browser's, or `ws` in Node). */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
}
export type WebSocketConstructor = new (url: string) => WebSocketLike;

/** What a device keeps between runs so it resumes where it stopped. */
export interface ClientState {
  /** The stream position after the last event applied. */
  cursor?: string;
  /** The last applied seq per conversation (gap detection). */
  seqs?: Record<string, number>;
}

export interface ClientStateStore {
  load(): ClientState | undefined | Promise<ClientState | undefined>;
  save(state: ClientState): void | Promise<void>;
}

export interface OncelyClientOptions {
  /** The server's base URL, e.g. `https://chat.example.com` (ws/wss is derived from it). */
  url: string;
  /** A user token, or a function giving a fresh one (called before every connect). */
  token: string | (() => string | Promise<string>);
  /** WebSocket constructor; defaults to `globalThis.WebSocket`. Node 20: pass `WebSocket` from `ws`. */
  WebSocket?: WebSocketConstructor;
  /** fetch; defaults to `globalThis.fetch`. */
  fetch?: typeof fetch;
  /** Where the cursor and seqs are kept (e.g. localStorage); without one the client starts from "now". */
  stateStore?: ClientStateStore;
  /**
   * `auto` (default): WebSocket; long-poll after `fallbackAfterFailures` socket attempts that failed while
   * HTTP answered (a server that is down altogether is waited for over the WebSocket).
   */
  transport?: 'auto' | 'websocket' | 'longpoll';
  /** Consecutive WebSocket connect failures, with HTTP working, before `auto` switches to long-poll. Default 2. */
  fallbackAfterFailures?: number;
  /** On the long-poll fallback, the longest wait (ms) between WebSocket retries (backoff schedule). Default 10 000. */
  upgradeRetryMs?: number;
  /** How long (ms) the HTTP probe after a failed socket attempt may take. Default 5 000. */
  probeTimeoutMs?: number;
  backoff?: BackoffOptions;
  /** Client pings (ms); a connection silent for two intervals is dropped and reopened. Default 20 000. */
  pingIntervalMs?: number;
  /** Long-poll wait (ms), at most 30 000. Default 25 000. */
  longPollTimeoutMs?: number;
  /** Events per history page when filling a gap. Default 200. */
  gapPageSize?: number;
}
