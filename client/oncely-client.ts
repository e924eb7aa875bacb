// The oncely client: one object per signed-in device. It keeps a WebSocket open (falling back to HTTP
// long-poll when HTTP works but the socket does not), resumes from its cursor after every disconnect, fills
// seq gaps from history, and hands the application each event once, in seq order per conversation.
// No Node-only imports: bundlers build it for the browser; Node 20 passes a WebSocket constructor (`ws`).
import { backoffDelay, type BackoffOptions } from './backoff.js';
import { ConversationOrder } from './ordering.js';
import {
  CloseCodes,
  type ClientFrame,
  type MessageBody,
  type Receipt,
  type SentAnswer,
  type ServerFrame,
  type WireEvent,
} from './protocol.js';

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

export type ConnectionStatus = 'idle' | 'connecting' | 'open' | 'waiting' | 'closed';

/** What a UI shows: the status, the transport, and when the next attempt is due (for a countdown). */
export interface ConnectionState {
  status: ConnectionStatus;
  transport: 'websocket' | 'longpoll' | null;
  /** Failed attempts since the last successful connect. */
  attempt: number;
  /** Epoch ms of the next reconnect attempt while `waiting`, else null. */
  nextRetryAt: number | null;
  /** Why the last connection ended or failed. */
  lastError: { code: string; message: string } | null;
}

export class OncelyClientError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status?: number,
  ) {
    super(message);
    this.name = 'OncelyClientError';
  }
}

interface ClientEvents {
  /** An event, applied in seq order per conversation, each once. */
  event: WireEvent;
  receipt: Receipt;
  state: ConnectionState;
  /** The server accepted the connection. */
  ready: { userId: string; cursor: string };
  /** The saved cursor moved (all events before it were handed to the application). */
  cursor: string;
  /** A server `error` frame not tied to a send, or a failed gap fill. */
  error: OncelyClientError;
}

type Listener<T> = (value: T) => void;

interface PendingSend {
  frame: Extract<ClientFrame, { type: 'send' }>;
  resolve: (answer: SentAnswer) => void;
  reject: (error: OncelyClientError) => void;
}

const authCodes = new Set([
  'missing_token',
  'invalid_token',
  'token_expired',
  'auth_timeout',
  'user_token_required',
]);

/** A fresh clientMsgId; random enough that two devices never pick the same one. */
export function newClientMsgId(): string {
  const c = (globalThis as { crypto?: { randomUUID?: () => string } }).crypto;
  if (c?.randomUUID) return c.randomUUID();
  return `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}-${Math.random().toString(36).slice(2)}`;
}

/** The `sub` of a user token (a JWT), without verifying it: only to name the user in long-poll mode. */
function subjectOf(token: string): string | undefined {
  try {
    const part = token.split('.')[1] ?? '';
    const json = atob(
      part
        .replace(/-/g, '+')
        .replace(/_/g, '/')
        .padEnd(Math.ceil(part.length / 4) * 4, '='),
    );
    const sub = (JSON.parse(json) as { sub?: unknown }).sub;
    return typeof sub === 'string' ? sub : undefined;
  } catch {
    return undefined;
  }
}

export class OncelyClient {
  private readonly opts: OncelyClientOptions;
  private readonly fetchFn: typeof fetch;
  private readonly listeners = new Map<keyof ClientEvents, Set<Listener<never>>>();
  private order = new ConversationOrder();
  private currentState: ConnectionState = {
    status: 'idle',
    transport: null,
    attempt: 0,
    nextRetryAt: null,
    lastError: null,
  };
  /** Cursor of the last frame received; saved once nothing is held behind a gap. */
  private latestCursor: string | undefined;
  private savedCursor: string | undefined;
  private userIdValue: string | undefined;
  private socket: WebSocketLike | undefined;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private pingTimer: ReturnType<typeof setInterval> | undefined;
  private lastHeardAt = 0;
  /** Socket attempts that failed while HTTP answered, since the last socket that became ready. */
  private wsFailures = 0;
  private mode: 'websocket' | 'longpoll';
  private pollAbort: AbortController | undefined;
  /** On the long-poll fallback: the next WebSocket retry, the one in flight, and how many failed. */
  private upgradeTimer: ReturnType<typeof setTimeout> | undefined;
  private upgradeSocket: WebSocketLike | undefined;
  private upgradeAttempt = 0;
  private started = false;
  private stopped = false;
  private readonly pending = new Map<string, PendingSend>();
  private readonly filling = new Set<string>();
  private loaded: Promise<void> | undefined;

  constructor(options: OncelyClientOptions) {
    this.opts = options;
    const f = options.fetch ?? globalThis.fetch;
    if (!f) throw new Error('no fetch available: pass options.fetch');
    this.fetchFn = f.bind(globalThis);
    this.mode = options.transport === 'longpoll' ? 'longpoll' : 'websocket';
  }

  /** The connection state (also emitted as `state`). */
  get state(): ConnectionState {
    return this.currentState;
  }

  /** The cursor up to which every event has been handed to the application. */
  get cursor(): string | undefined {
    return this.savedCursor;
  }

  /** The signed-in user, once the server said `ready`. */
  get userId(): string | undefined {
    return this.userIdValue;
  }

  /** Last applied seq per conversation. */
  get seqs(): Record<string, number> {
    return this.order.snapshot();
  }

  /** Subscribes to `event`, `receipt`, `state`, `ready`, `cursor` or `error`; returns the unsubscribe. */
  on<K extends keyof ClientEvents>(type: K, listener: Listener<ClientEvents[K]>): () => void {
    let set = this.listeners.get(type);
    if (!set) this.listeners.set(type, (set = new Set()));
    set.add(listener as Listener<never>);
    return () => set.delete(listener as Listener<never>);
  }

  /** Starts connecting (after loading the saved state); reconnects by itself until `close()`. */
  connect(): Promise<void> {
    if (this.started) return this.loaded ?? Promise.resolve();
    this.started = true;
    this.loaded = (async () => {
      const saved = await this.opts.stateStore?.load();
      if (saved) {
        this.order = new ConversationOrder(saved.seqs ?? {});
        this.savedCursor = this.latestCursor = saved.cursor;
      }
      this.open();
    })();
    return this.loaded;
  }

  /** Stops for good: closes the connection, cancels retries, fails sends still waiting. */
  async close(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    clearInterval(this.pingTimer);
    this.stopUpgrades();
    this.pollAbort?.abort();
    const socket = this.socket;
    this.socket = undefined;
    if (socket) this.detach(socket);
    socket?.close(1000, 'client closed');
    for (const p of this.pending.values())
      p.reject(new OncelyClientError('client_closed', 'the client was closed'));
    this.pending.clear();
    this.setState({ status: 'closed', nextRetryAt: null });
  }

  /**
   * Tries at once instead of waiting out the backoff: for when the application knows the network is back
   * (the browser's `online` event, a tab shown again). While waiting to reconnect it connects now; on the
   * long-poll fallback it tries the WebSocket now. Otherwise (connecting, or an open WebSocket, whose pings
   * find a dead one) there is nothing to hurry.
   */
  reconnectNow(): void {
    if (!this.started || this.stopped) return;
    if (this.currentState.status === 'waiting') {
      this.open();
    } else if (this.onFallback() && !this.upgradeSocket) {
      clearTimeout(this.upgradeTimer);
      void this.openSocket(true);
    }
  }

  /**
   * Sends a message; resolves with the server's `sent` answer once it is committed. The same clientMsgId
   * is retried across reconnects (and over HTTP in long-poll mode), so it is created once whatever happens.
   */
  send(
    conversationId: string,
    body: MessageBody,
    options: { clientMsgId?: string } = {},
  ): Promise<SentAnswer> {
    if (this.stopped) return Promise.reject(new OncelyClientError('client_closed', 'the client was closed'));
    const clientMsgId = options.clientMsgId ?? newClientMsgId();
    const existing = this.pending.get(clientMsgId);
    if (existing) {
      return new Promise((resolve, reject) => {
        const { resolve: r0, reject: j0 } = existing;
        existing.resolve = (a) => (r0(a), resolve(a));
        existing.reject = (e) => (j0(e), reject(e));
      });
    }
    return new Promise((resolve, reject) => {
      const p: PendingSend = { frame: { type: 'send', clientMsgId, conversationId, body }, resolve, reject };
      this.pending.set(clientMsgId, p);
      this.dispatchSend(p);
    });
  }

  /** Moves this user's delivered/read markers forward (over the socket when open, else HTTP). */
  async markReceipt(
    conversationId: string,
    marks: { deliveredSeq?: number; readSeq?: number },
  ): Promise<void> {
    if (this.socketOpen()) {
      this.frame({ type: 'receipt', conversationId, ...marks });
      return;
    }
    await this.http('POST', `/v1/conversations/${encodeURIComponent(conversationId)}/receipts`, marks);
  }

  /** Recalls a message (HTTP, so the answer or refusal — `not_sender`, `recall_window_expired` — comes back). */
  recall(
    messageId: string,
  ): Promise<{ messageId: string; conversationId: string; recalledAt: string; event: WireEvent }> {
    return this.http('POST', `/v1/messages/${encodeURIComponent(messageId)}/recall`);
  }

  /** A page of a conversation's history, ascending seq (`GET /v1/conversations/{id}/messages`). */
  history(
    conversationId: string,
    q: { after?: number; before?: number; limit?: number } = {},
  ): Promise<{ items: WireEvent[]; hasMore: boolean }> {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(q)) if (v !== undefined) params.set(k, String(v));
    const qs = params.toString();
    return this.http(
      'GET',
      `/v1/conversations/${encodeURIComponent(conversationId)}/messages${qs ? `?${qs}` : ''}`,
    );
  }

  /** The user's conversations with unread counts (`GET /v1/me/conversations`). */
  conversations(): Promise<{
    items: Array<Record<string, unknown> & { id: string; lastSeq: number; readSeq: number; unread: number }>;
  }> {
    return this.http('GET', '/v1/me/conversations');
  }

  /** An authenticated JSON request to the server; errors become OncelyClientError with the server's code. */
  async http<T = unknown>(
    method: string,
    path: string,
    body?: unknown,
    init: { signal?: AbortSignal } = {},
  ): Promise<T> {
    const headers: Record<string, string> = { authorization: `Bearer ${await this.token()}` };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await this.fetchFn(this.opts.url.replace(/\/$/, '') + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: init.signal,
    });
    const text = await res.text();
    const parsed = text ? (JSON.parse(text) as unknown) : undefined;
    if (!res.ok) {
      const err = (parsed as { error?: { code?: string; message?: string } } | undefined)?.error;
      throw new OncelyClientError(
        err?.code ?? `http_${res.status}`,
        err?.message ?? res.statusText,
        res.status,
      );
    }
    return parsed as T;
  }

  // ---- connection lifecycle ----

  private open(): void {
    if (this.stopped) return;
    clearTimeout(this.retryTimer);
    const useLongPoll =
      this.opts.transport === 'longpoll' ||
      (this.opts.transport !== 'websocket' && (this.mode === 'longpoll' || !this.wsConstructor()));
    if (useLongPoll) void this.runLongPoll();
    else void this.openSocket();
  }

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
    if (!upgrade) this.setState({ status: 'connecting', transport: 'websocket', nextRetryAt: null });
    let token: string;
    try {
      token = await this.token();
    } catch (err) {
      if (upgrade) return this.scheduleUpgrade();
      return this.scheduleRetry({ code: 'token_unavailable', message: String(err) });
    }
    if (this.stopped || (upgrade && !this.onFallback())) return;
    // The cursor rides on the URL, so the server resumes at connect with no race against live events.
    const resumeAt = this.savedCursor ? `&cursor=${encodeURIComponent(this.savedCursor)}` : '';
    const url = `${this.opts.url.replace(/^http/, 'ws').replace(/\/$/, '')}/v1/ws?token=${encodeURIComponent(token)}${resumeAt}`;
    let socket: WebSocketLike;
    try {
      socket = new WS(url);
    } catch (err) {
      if (upgrade) return this.scheduleUpgrade();
      return this.socketFailed({ code: 'connect_failed', message: String(err) }, false);
    }
    if (upgrade) this.upgradeSocket = socket;
    else this.socket = socket;
    let opened = false;
    let ready = false;
    socket.onopen = () => {
      opened = true;
      this.lastHeardAt = Date.now();
      // Without a cursor, any first frame tells the server to go live from `ready` at once.
      if (!this.savedCursor) socket.send(JSON.stringify({ type: 'ping' } satisfies ClientFrame));
      if (!upgrade) this.startPinging(socket);
    };
    socket.onmessage = (ev) => {
      this.lastHeardAt = Date.now();
      let frame: ServerFrame;
      try {
        frame = JSON.parse(String(ev.data)) as ServerFrame;
      } catch {
        return;
      }
      if (frame.type === 'ready') {
        if (upgrade && !this.takeOver(socket)) return;
        ready = true;
        this.wsFailures = 0;
        this.onReady(frame.userId, frame.cursor, 'websocket');
        for (const p of this.pending.values()) this.frame(p.frame);
      } else this.onFrame(frame);
    };
    socket.onerror = () => {
      /* onclose follows with the code */
    };
    socket.onclose = (ev) => {
      if (this.upgradeSocket === socket) {
        // The WebSocket still fails; the long-poll carries on and the next retry is scheduled.
        this.upgradeSocket = undefined;
        return this.scheduleUpgrade();
      }
      if (this.socket !== socket) return;
      this.socket = undefined;
      clearInterval(this.pingTimer);
      const lastError = this.lastError;
      this.lastError = null;
      const error = lastError ?? { code: `closed_${ev.code}`, message: ev.reason || 'the connection closed' };
      void this.socketFailed(error, opened && ready, ev.code);
    };
  }

  /** The last `error` frame, reported as the reason when the server then closes. */
  private lastError: { code: string; message: string } | null = null;

  private async socketFailed(
    error: { code: string; message: string },
    wasReady: boolean,
    code?: number,
  ): Promise<void> {
    if (this.stopped) return;
    if (code === CloseCodes.invalidCursor) this.forgetCursor();
    const refused = code === CloseCodes.unauthorized || code === CloseCodes.tooManyConnections;
    if (this.autoTransport() && !wasReady && !refused && code !== CloseCodes.invalidCursor) {
      // A failed socket says the WebSocket is blocked only if HTTP gets through. When HTTP fails too the
      // server is down (a restart, an outage): keep retrying the WebSocket, so the client is back on it as
      // soon as the server is, instead of on long-poll.
      const httpWorks = await this.httpReachable();
      if (this.stopped) return;
      if (httpWorks && ++this.wsFailures >= (this.opts.fallbackAfterFailures ?? 2)) {
        return this.fallBack(error.message);
      }
    }
    // A server going away or cutting a slow reader is worth an immediate first retry.
    const quick = wasReady && (code === CloseCodes.goingAway || code === CloseCodes.slowConsumer);
    this.scheduleRetry(error, quick);
  }

  /** Whether the server answers plain HTTP (`GET /healthz`); a 5xx is a proxy whose server is down. */
  private async httpReachable(): Promise<boolean> {
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), this.opts.probeTimeoutMs ?? 5_000);
    try {
      const res = await this.fetchFn(`${this.opts.url.replace(/\/$/, '')}/healthz`, { signal: abort.signal });
      await res.body?.cancel();
      return res.status < 500;
    } catch {
      return false;
    } finally {
      clearTimeout(timer);
    }
  }

  private autoTransport(): boolean {
    return this.opts.transport !== 'websocket' && this.opts.transport !== 'longpoll';
  }

  private fallBack(reason: string): void {
    this.mode = 'longpoll';
    this.upgradeAttempt = 0;
    this.setState({ lastError: { code: 'websocket_unavailable', message: reason } });
    // HTTP was just seen working, so the long-poll starts at once.
    this.open();
  }

  private scheduleRetry(error: { code: string; message: string }, immediate = false): void {
    if (this.stopped) return;
    const attempt = this.currentState.attempt;
    const delay = immediate && attempt === 0 ? 0 : backoffDelay(attempt, this.opts.backoff);
    this.setState({
      status: 'waiting',
      attempt: attempt + 1,
      nextRetryAt: Date.now() + delay,
      lastError: error,
    });
    this.retryTimer = setTimeout(() => this.open(), delay);
  }

  private onReady(userId: string, cursor: string, transport: 'websocket' | 'longpoll'): void {
    this.userIdValue = userId;
    if (!this.latestCursor) {
      this.latestCursor = cursor;
      this.saveCursor();
    }
    this.setState({ status: 'open', transport, attempt: 0, nextRetryAt: null, lastError: null });
    this.emit('ready', { userId, cursor });
  }

  private startPinging(socket: WebSocketLike): void {
    clearInterval(this.pingTimer);
    const every = this.opts.pingIntervalMs ?? 20_000;
    this.pingTimer = setInterval(() => {
      if (this.socket !== socket) return;
      if (Date.now() - this.lastHeardAt > 2 * every) {
        // Half-open: the server is gone without a close frame. Drop it and reconnect.
        this.detach(socket);
        this.socket = undefined;
        clearInterval(this.pingTimer);
        try {
          socket.close(4000, 'no answer to pings');
        } catch {
          /* already closing */
        }
        void this.socketFailed({ code: 'ping_timeout', message: 'the server stopped answering' }, true);
        return;
      }
      this.frame({ type: 'ping' });
    }, every);
  }

  private detach(socket: WebSocketLike): void {
    socket.onopen = socket.onmessage = socket.onclose = null;
    // Not null: `ws` (Node) throws an 'error' nobody listens to when a socket still connecting is closed.
    socket.onerror = () => undefined;
  }

  private socketOpen(): boolean {
    return this.socket !== undefined && this.socket.readyState === 1 && this.currentState.status === 'open';
  }

  private frame(frame: ClientFrame): void {
    if (this.socket && this.socket.readyState === 1) this.socket.send(JSON.stringify(frame));
  }

  private onFrame(frame: ServerFrame): void {
    switch (frame.type) {
      case 'event':
        this.onEvent(frame.event, frame.cursor);
        break;
      case 'receipt.updated':
        this.emit('receipt', frame.receipt);
        break;
      case 'sent': {
        const p = this.pending.get(frame.clientMsgId);
        if (p) {
          this.pending.delete(frame.clientMsgId);
          p.resolve({
            clientMsgId: frame.clientMsgId,
            id: frame.id,
            seq: frame.seq,
            duplicate: frame.duplicate,
          });
        }
        break;
      }
      case 'error': {
        const error = new OncelyClientError(frame.code, frame.message);
        const p = frame.clientMsgId ? this.pending.get(frame.clientMsgId) : undefined;
        if (p && frame.clientMsgId) {
          this.pending.delete(frame.clientMsgId);
          p.reject(error);
        } else {
          if (
            authCodes.has(frame.code) ||
            frame.code === 'too_many_connections' ||
            frame.code === 'slow_consumer'
          ) {
            this.lastError = { code: frame.code, message: frame.message };
          }
          this.emit('error', error);
        }
        break;
      }
      case 'pong':
      case 'ready':
        break;
    }
  }

  // ---- events, order, cursor ----

  private onEvent(event: WireEvent, cursor: string | undefined): void {
    const { ready, gap } = this.order.offer(event);
    for (const e of ready) this.emit('event', e);
    if (cursor) this.latestCursor = cursor;
    if (gap) void this.fillGap(gap.conversationId);
    this.saveCursor();
  }

  /** The server does not know our cursor (its store was reset): start again from its "now". */
  private forgetCursor(): void {
    this.latestCursor = this.savedCursor = undefined;
    this.emit('error', new OncelyClientError('invalid_cursor', 'the server did not accept the saved cursor'));
  }

  /** Saves the cursor only when no event is held behind a gap, so a saved cursor never skips one. */
  private saveCursor(): void {
    if (!this.latestCursor || this.latestCursor === this.savedCursor || this.order.hasHeld()) return;
    this.savedCursor = this.latestCursor;
    this.emit('cursor', this.savedCursor);
    void Promise.resolve(
      this.opts.stateStore?.save({ cursor: this.savedCursor, seqs: this.order.snapshot() }),
    ).catch(() => undefined);
  }

  private async fillGap(conversationId: string): Promise<void> {
    if (this.filling.has(conversationId)) return;
    this.filling.add(conversationId);
    try {
      for (
        let gap = this.order.gapOf(conversationId);
        gap && !this.stopped;
        gap = this.order.gapOf(conversationId)
      ) {
        const limit = Math.min(this.opts.gapPageSize ?? 200, 1000);
        const page = await this.history(conversationId, { after: gap.afterSeq, limit });
        if (page.items.length === 0) break;
        for (const e of page.items) {
          const { ready } = this.order.offer(e);
          for (const r of ready) this.emit('event', r);
        }
      }
    } catch (err) {
      this.emit(
        'error',
        err instanceof OncelyClientError ? err : new OncelyClientError('gap_fill_failed', String(err)),
      );
      // Try again shortly; the held events stay held and the cursor stays put meanwhile.
      setTimeout(
        () => {
          if (!this.stopped) void this.fillGap(conversationId);
        },
        backoffDelay(1, this.opts.backoff),
      );
    } finally {
      this.filling.delete(conversationId);
      this.saveCursor();
    }
  }

  // ---- sends ----

  private dispatchSend(p: PendingSend): void {
    if (this.socketOpen()) this.frame(p.frame);
    else if (this.currentState.transport === 'longpoll' && this.currentState.status === 'open')
      void this.sendOverHttp(p);
    // Otherwise it waits: every pending send is (re)sent when a connection becomes ready.
  }

  private async sendOverHttp(p: PendingSend): Promise<void> {
    const { conversationId, body, clientMsgId } = p.frame;
    try {
      // The REST send keys a user's message by its clientMsgId too: a retry over either transport is one message.
      const res = await this.http<{ id: string; seq: number }>(
        'POST',
        `/v1/conversations/${encodeURIComponent(conversationId)}/messages`,
        { body, clientMsgId },
      );
      if (!this.pending.has(clientMsgId)) return;
      this.pending.delete(clientMsgId);
      p.resolve({ clientMsgId, id: res.id, seq: res.seq, duplicate: false });
    } catch (err) {
      if (err instanceof OncelyClientError && err.status !== undefined && err.status < 500) {
        this.pending.delete(clientMsgId);
        p.reject(err);
      }
      // Network failure or 5xx: it stays pending and is retried on the next ready.
    }
  }

  // ---- long-poll ----

  private async runLongPoll(): Promise<void> {
    this.setState({ status: 'connecting', transport: 'longpoll', nextRetryAt: null });
    const timeoutMs = Math.min(this.opts.longPollTimeoutMs ?? 25_000, 30_000);
    const abort = new AbortController();
    this.pollAbort = abort;
    let first = true;
    // Aborted by close(), or by a WebSocket taking over: it resumes from the saved cursor, so an answer
    // dropped here is replayed there (and anything already applied is dropped as a repeat).
    while (!abort.signal.aborted) {
      let answer: { events: WireEvent[]; cursor: string };
      try {
        const q = this.latestCursor ? `cursor=${encodeURIComponent(this.latestCursor)}&` : '';
        answer = await this.http('GET', `/v1/sync?${q}timeoutMs=${first ? 0 : timeoutMs}`, undefined, {
          signal: abort.signal,
        });
      } catch (err) {
        if (abort.signal.aborted || this.stopped) return;
        return this.longPollFailed(
          err instanceof OncelyClientError ? err : new OncelyClientError('network_error', String(err)),
        );
      }
      if (abort.signal.aborted) return;
      if (first) {
        first = false;
        const userId = this.userIdValue ?? subjectOf(await this.token()) ?? '';
        if (abort.signal.aborted) return;
        this.onReady(userId, answer.cursor, 'longpoll');
        for (const p of this.pending.values()) void this.sendOverHttp(p);
        this.scheduleUpgrade();
      }
      for (const event of answer.events) this.onEvent(event, undefined);
      this.latestCursor = answer.cursor;
      this.saveCursor();
    }
  }

  private longPollFailed(e: OncelyClientError): void {
    this.pollAbort = undefined;
    this.stopUpgrades();
    if (e.code === 'invalid_cursor') this.forgetCursor();
    // No answer at all (or a proxy's 5xx): the server is down rather than the WebSocket blocked. Wait for
    // it on the WebSocket; if that still fails while HTTP works, the client is back here after one try.
    if (this.autoTransport() && (e.status === undefined || e.status >= 500)) this.mode = 'websocket';
    this.scheduleRetry({ code: e.code, message: e.message });
  }

  /** Open on long-poll because the WebSocket failed (not because long-poll was asked for). */
  private onFallback(): boolean {
    return (
      !this.stopped &&
      this.autoTransport() &&
      this.mode === 'longpoll' &&
      this.currentState.status === 'open' &&
      this.currentState.transport === 'longpoll'
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
  private takeOver(socket: WebSocketLike): boolean {
    if (this.upgradeSocket !== socket || !this.onFallback()) {
      this.detach(socket);
      socket.close(1000, 'not needed');
      return false;
    }
    this.upgradeSocket = undefined;
    clearTimeout(this.upgradeTimer);
    this.pollAbort?.abort();
    this.pollAbort = undefined;
    this.mode = 'websocket';
    this.socket = socket;
    this.startPinging(socket);
    return true;
  }

  private stopUpgrades(): void {
    clearTimeout(this.upgradeTimer);
    const socket = this.upgradeSocket;
    this.upgradeSocket = undefined;
    if (socket) {
      this.detach(socket);
      try {
        socket.close(1000, 'not needed');
      } catch {
        /* already closing */
      }
    }
  }

  // ---- plumbing ----

  private async token(): Promise<string> {
    return typeof this.opts.token === 'function' ? await this.opts.token() : this.opts.token;
  }

  private setState(patch: Partial<ConnectionState>): void {
    this.currentState = { ...this.currentState, ...patch };
    this.emit('state', this.currentState);
  }

  private emit<K extends keyof ClientEvents>(type: K, value: ClientEvents[K]): void {
    for (const listener of this.listeners.get(type) ?? []) {
      try {
        (listener as Listener<ClientEvents[K]>)(value);
      } catch (err) {
        // A listener's bug must not break delivery to the others.
        console.error('oncely client listener failed', err);
      }
    }
  }
}
