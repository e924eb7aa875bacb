// The client's one logical connection to the server and its reconnect policy: which transport to use, the
// backoff between attempts, the HTTP probe that decides a fall back to long-poll, and the WebSocket retries
// (upgrades) that lead back from it. The client facade supplies what a connection delivers to.
import { backoffDelay } from './backoff.js';
import type { OncelyClientError } from './client-error.js';
import type { OncelyClientOptions, WebSocketConstructor } from './client-options.js';
import type { ConnectionState, Transport } from './connection-state.js';
import type { HttpApi } from './http-api.js';
import { LongPoll } from './long-poll.js';
import { closeCodeMeaning, closingErrorCodes, reconnectsAtOnce } from './close-codes.js';
import type { ClientFrame, ServerFrame, WireEvent } from './protocol.js';
import { WebSocketConnection, webSocketUrl } from './websocket-connection.js';
import { claimsOf } from './token-claims.js';

/** What the connection reads from and delivers to the client. */
export interface ConnectionHost {
  state(): ConnectionState;
  setState(patch: Partial<ConnectionState>): void;
  /** The cursor up to which everything was handed to the application: where a WebSocket resumes. */
  savedCursor(): string | undefined;
  /** The cursor of the last frame received: where the next long-poll starts. */
  latestCursor(): string | undefined;
  userId(): string | undefined;
  /** A transport is open; every send still waiting goes out again on it. */
  onReady(userId: string, cursor: string, transport: Transport): void;
  onFrame(frame: ServerFrame): void;
  onPollAnswer(events: WireEvent[], cursor: string): void;
  /** The server does not know the saved cursor. */
  forgetCursor(): void;
}

export class Connection {
  private socket: WebSocketConnection | undefined;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  /** Socket attempts that failed while HTTP answered, since the last socket that became ready. */
  private wsFailures = 0;
  private mode: Transport;
  private poll: LongPoll | undefined;
  /** On the long-poll fallback: the next WebSocket retry, the one in flight, and how many failed. */
  private upgradeTimer: ReturnType<typeof setTimeout> | undefined;
  private upgradeSocket: WebSocketConnection | undefined;
  private upgradeAttempt = 0;
  /** The last `error` frame, reported as the reason when the server then closes. */
  private lastError: { code: string; message: string } | null = null;
  private stopped = false;
  /** When the open socket hands the server a fresh token, before its current one expires. */
  private refreshTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly opts: OncelyClientOptions,
    private readonly api: HttpApi,
    private readonly host: ConnectionHost,
  ) {
    this.mode = opts.transport === 'longpoll' ? 'longpoll' : 'websocket';
  }

  /** Connects over the transport the policy picks. */
  open(): void {
    if (this.stopped) return;
    clearTimeout(this.retryTimer);
    const useLongPoll =
      this.opts.transport === 'longpoll' ||
      (this.opts.transport !== 'websocket' && (this.mode === 'longpoll' || !this.wsConstructor()));
    if (useLongPoll) this.runLongPoll();
    else void this.openSocket();
  }

  /** Ends the connection and every retry for good. */
  close(): void {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    clearTimeout(this.refreshTimer);
    this.stopUpgrades();
    this.poll?.stop();
    const socket = this.socket;
    this.socket = undefined;
    if (socket) {
      socket.detach();
      socket.close(1000, 'client closed');
    }
  }

  /** See `OncelyClient.reconnectNow`. */
  reconnectNow(): void {
    if (this.host.state().status === 'waiting') {
      this.open();
    } else if (this.onFallback() && !this.upgradeSocket) {
      clearTimeout(this.upgradeTimer);
      void this.openSocket(true);
    }
  }

  /** Whether an open WebSocket carries the connection (else sends go over HTTP or wait). */
  socketOpen(): boolean {
    return this.socket !== undefined && this.socket.isOpen && this.host.state().status === 'open';
  }

  /** Sends a frame on the WebSocket, if one is open. */
  send(frame: ClientFrame): void {
    this.socket?.send(frame);
  }

  /** A server `error` frame not tied to a send: kept as the reason if the server then closes. */
  noteServerError(code: string, message: string): void {
    if (closingErrorCodes.has(code)) this.lastError = { code, message };
  }

  // ---- WebSocket ----

  private wsConstructor(): WebSocketConstructor | undefined {
    return this.opts.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  }

  /**
   * Opens a WebSocket. An `upgrade` attempt is made from the long-poll fallback: it runs beside the working
   * long-poll, changes no state while it tries, and takes over only once the server says `ready`.
   */
  private async openSocket(upgrade = false): Promise<void> {
    const WS = this.wsConstructor();
    if (!WS) return upgrade ? undefined : this.fallBack('no WebSocket implementation available');
    if (!upgrade) this.host.setState({ status: 'connecting', transport: 'websocket', nextRetryAt: null });
    let token: string;
    try {
      token = await this.api.token();
    } catch (err) {
      if (upgrade) return this.scheduleUpgrade();
      return this.scheduleRetry({ code: 'token_unavailable', message: String(err) });
    }
    if (this.stopped || (upgrade && !this.onFallback())) return;
    const url = webSocketUrl(this.opts.url, token, this.host.savedCursor());
    let conn: WebSocketConnection;
    try {
      conn = new WebSocketConnection(WS, url, {
        onOpen: () => {
          // Without a cursor, any first frame tells the server to go live from `ready` at once.
          if (!this.host.savedCursor()) conn.send({ type: 'ping' });
          if (!upgrade) this.startPinging(conn);
        },
        onReady: (frame) => {
          if (upgrade && !this.takeOver(conn)) return;
          conn.ready = true;
          this.wsFailures = 0;
          this.scheduleRefresh(conn, token);
          this.host.onReady(frame.userId, frame.cursor, 'websocket');
        },
        onFrame: (frame) => this.host.onFrame(frame),
        onClose: (ev) => {
          if (this.upgradeSocket === conn) {
            // The WebSocket still fails; the long-poll carries on and the next retry is scheduled.
            this.upgradeSocket = undefined;
            return this.scheduleUpgrade();
          }
          if (this.socket !== conn) return;
          this.socket = undefined;
          clearTimeout(this.refreshTimer);
          conn.stopPinging();
          const lastError = this.lastError;
          this.lastError = null;
          const error = lastError ?? {
            code: `closed_${ev.code}`,
            message: ev.reason || 'the connection closed',
          };
          void this.socketFailed(error, conn.opened && conn.ready, ev.code);
        },
      });
    } catch (err) {
      if (upgrade) return this.scheduleUpgrade();
      return this.socketFailed({ code: 'connect_failed', message: String(err) }, false);
    }
    if (upgrade) this.upgradeSocket = conn;
    else this.socket = conn;
  }

  /**
   * The server ends a session when its token expires (close 4401, `token_expired`). Before that — half way
   * through a short token's remaining life, a minute before a long one's expiry — the client asks the application's token function for a
   * fresh one and sends it in an `auth` frame, so the session goes on. A function that gives the same
   * token back changes nothing: the session then ends at expiry and the client reconnects with whatever
   * the function gives next.
   */
  private scheduleRefresh(conn: WebSocketConnection, token: string): void {
    clearTimeout(this.refreshTimer);
    const exp = claimsOf(token).exp;
    if (exp === undefined || typeof this.opts.token !== 'function') return;
    const left = exp * 1000 - Date.now();
    this.refreshTimer = setTimeout(
      () => {
        void this.api.token().then(
          (fresh) => {
            if (this.socket !== conn || this.stopped || fresh === token) return;
            conn.send({ type: 'auth', token: fresh });
            this.scheduleRefresh(conn, fresh);
          },
          () => undefined, // no fresh token now: the session ends at expiry and the reconnect asks again
        );
      },
      Math.min(Math.max(0, left - Math.min(left / 2, 60_000)), 2 ** 31 - 1),
    );
  }

  private startPinging(conn: WebSocketConnection): void {
    conn.startPinging(this.opts.pingIntervalMs ?? 20_000, () => {
      if (this.socket !== conn) return;
      this.socket = undefined;
      void this.socketFailed({ code: 'ping_timeout', message: 'the server stopped answering' }, true);
    });
  }

  private async socketFailed(
    error: { code: string; message: string },
    wasReady: boolean,
    code?: number,
  ): Promise<void> {
    if (this.stopped) return;
    const meaning = closeCodeMeaning(code);
    if (meaning?.forgetCursor) this.host.forgetCursor();
    if (this.autoTransport() && !wasReady && !meaning?.refused) {
      // A failed socket says the WebSocket is blocked only if HTTP gets through. When HTTP fails too the
      // server is down (a restart, an outage): keep retrying the WebSocket, so the client is back on it as
      // soon as the server is, instead of on long-poll.
      const httpWorks = await this.api.reachable();
      if (this.stopped) return;
      if (httpWorks && ++this.wsFailures >= (this.opts.fallbackAfterFailures ?? 2)) {
        return this.fallBack(error.message);
      }
    }
    // A server going away, cutting a slow reader or ending an expired token's session is worth an immediate
    // first retry (close-codes.ts).
    const quick = wasReady && reconnectsAtOnce(code, error.code);
    this.scheduleRetry(error, quick);
  }

  private autoTransport(): boolean {
    return this.opts.transport !== 'websocket' && this.opts.transport !== 'longpoll';
  }

  private fallBack(reason: string): void {
    this.mode = 'longpoll';
    this.upgradeAttempt = 0;
    this.host.setState({ lastError: { code: 'websocket_unavailable', message: reason } });
    // HTTP was just seen working, so the long-poll starts at once.
    this.open();
  }

  private scheduleRetry(error: { code: string; message: string }, immediate = false): void {
    if (this.stopped) return;
    const attempt = this.host.state().attempt;
    const delay = immediate && attempt === 0 ? 0 : backoffDelay(attempt, this.opts.backoff);
    this.host.setState({
      status: 'waiting',
      attempt: attempt + 1,
      nextRetryAt: Date.now() + delay,
      lastError: error,
    });
    this.retryTimer = setTimeout(() => this.open(), delay);
  }

  // ---- long-poll ----

  private runLongPoll(): void {
    this.host.setState({ status: 'connecting', transport: 'longpoll', nextRetryAt: null });
    const poll = new LongPoll(this.api, Math.min(this.opts.longPollTimeoutMs ?? 25_000, 30_000), {
      cursor: () => this.host.latestCursor(),
      userId: () => this.host.userId(),
      onOpen: (userId, cursor) => {
        this.host.onReady(userId, cursor, 'longpoll');
        this.scheduleUpgrade();
      },
      onAnswer: (events, cursor) => this.host.onPollAnswer(events, cursor),
      onFailed: (e) => {
        if (!this.stopped) this.longPollFailed(e);
      },
    });
    this.poll = poll;
    void poll.run();
  }

  private longPollFailed(e: OncelyClientError): void {
    this.poll = undefined;
    this.stopUpgrades();
    if (e.code === 'invalid_cursor') this.host.forgetCursor();
    // No answer at all (or a proxy's 5xx): the server is down rather than the WebSocket blocked. Wait for
    // it on the WebSocket; if that still fails while HTTP works, the client is back here after one try.
    if (this.autoTransport() && (e.status === undefined || e.status >= 500)) this.mode = 'websocket';
    this.scheduleRetry({ code: e.code, message: e.message });
  }

  // ---- back from the fallback to the WebSocket ----

  /** Open on long-poll because the WebSocket failed (not because long-poll was asked for). */
  private onFallback(): boolean {
    return (
      !this.stopped &&
      this.autoTransport() &&
      this.mode === 'longpoll' &&
      this.host.state().status === 'open' &&
      this.host.state().transport === 'longpoll'
    );
  }

  /** On the long-poll fallback, the next WebSocket retry: the backoff schedule, capped by `upgradeRetryMs`. */
  private scheduleUpgrade(): void {
    clearTimeout(this.upgradeTimer);
    if (!this.wsConstructor() || !this.onFallback()) return;
    const maxMs = Math.min(this.opts.upgradeRetryMs ?? 10_000, this.opts.backoff?.maxMs ?? Infinity);
    const delay = backoffDelay(this.upgradeAttempt++, { ...this.opts.backoff, maxMs });
    this.upgradeTimer = setTimeout(() => void this.openSocket(true), delay);
  }

  /** The upgrade socket is ready: it replaces the long-poll, which stops here. False if it came too late. */
  private takeOver(conn: WebSocketConnection): boolean {
    if (this.upgradeSocket !== conn || !this.onFallback()) {
      conn.detach();
      conn.close(1000, 'not needed');
      return false;
    }
    this.upgradeSocket = undefined;
    clearTimeout(this.upgradeTimer);
    this.poll?.stop();
    this.poll = undefined;
    this.mode = 'websocket';
    this.socket = conn;
    this.startPinging(conn);
    return true;
  }

  private stopUpgrades(): void {
    clearTimeout(this.upgradeTimer);
    const conn = this.upgradeSocket;
    this.upgradeSocket = undefined;
    if (conn) {
      conn.detach();
      try {
        conn.close(1000, 'not needed');
      } catch {
        /* already closing */
      }
    }
  }
}
