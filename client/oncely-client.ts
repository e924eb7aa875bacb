// The oncely client: one object per signed-in device. It keeps a connection open (./connection.ts), resumes
// from its cursor after every disconnect, fills seq gaps from history, and hands the application each event
// once, in seq order per conversation. No Node-only imports: bundlers build it for the browser.
import { backoffDelay } from './backoff.js';
import { OncelyClientError } from './client-error.js';
import type { OncelyClientOptions } from './client-options.js';
import { Connection } from './connection.js';
import type { ConnectionState, Transport } from './connection-state.js';
import { HttpApi } from './http-api.js';
import { ConversationOrder } from './ordering.js';
import { newClientMsgId, PendingSends, type PendingSend } from './pending-sends.js';
import type { MessageBody, Receipt, SentAnswer, ServerFrame, WireEvent } from './protocol.js';

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
  /** Another member is typing in a conversation (WebSocket only; show it for a few seconds). */
  typing: { conversationId: string; userId: string };
  /** A member of one of the user's conversations came online (first session) or went offline (last one). */
  presence: { userId: string; online: boolean; at: string };
}

type Listener<T> = (value: T) => void;

export class OncelyClient {
  private readonly opts: OncelyClientOptions;
  private readonly api: HttpApi;
  private readonly connection: Connection;
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
  private started = false;
  private stopped = false;
  private readonly pending = new PendingSends();
  private readonly filling = new Set<string>();
  private loaded: Promise<void> | undefined;

  constructor(options: OncelyClientOptions) {
    this.opts = options;
    this.api = new HttpApi(options);
    this.connection = new Connection(options, this.api, {
      state: () => this.currentState,
      setState: (patch) => this.setState(patch),
      savedCursor: () => this.savedCursor,
      latestCursor: () => this.latestCursor,
      userId: () => this.userIdValue,
      onReady: (userId, cursor, transport) => this.onReady(userId, cursor, transport),
      onFrame: (frame) => this.onFrame(frame),
      onPollAnswer: (events, cursor) => {
        for (const event of events) this.onEvent(event, undefined);
        this.latestCursor = cursor;
        this.saveCursor();
      },
      forgetCursor: () => this.forgetCursor(),
    });
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

  /**
   * Subscribes to `event`, `receipt`, `state`, `ready`, `cursor`, `error`, `typing` or `presence`; returns
   * the unsubscribe.
   */
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
      this.connection.open();
    })();
    return this.loaded;
  }

  /** Stops for good: closes the connection, cancels retries, fails sends still waiting. */
  async close(): Promise<void> {
    this.stopped = true;
    this.connection.close();
    this.pending.failAll('client_closed', 'the client was closed');
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
    this.connection.reconnectNow();
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
    return this.pending.add({ type: 'send', clientMsgId, conversationId, body }, (p) => this.dispatchSend(p));
  }

  /** Moves this user's delivered/read markers forward (over the socket when open, else HTTP). */
  async markReceipt(
    conversationId: string,
    marks: { deliveredSeq?: number; readSeq?: number },
  ): Promise<void> {
    if (this.connection.socketOpen()) {
      this.connection.send({ type: 'receipt', conversationId, ...marks });
      return;
    }
    await this.http('POST', `/v1/conversations/${encodeURIComponent(conversationId)}/receipts`, marks);
  }

  /**
   * Tells the conversation's other members that this user is typing. Over an open WebSocket only (typing is
   * not worth a request); returns whether it was sent. The server passes on one per second per user and
   * conversation and drops the rest.
   */
  typing(conversationId: string): boolean {
    if (!this.connection.socketOpen()) return false;
    this.connection.send({ type: 'typing', conversationId });
    return true;
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
  http<T = unknown>(
    method: string,
    path: string,
    body?: unknown,
    init: { signal?: AbortSignal } = {},
  ): Promise<T> {
    return this.api.request<T>(method, path, body, init);
  }

  // ---- what the connection delivers ----

  private onReady(userId: string, cursor: string, transport: Transport): void {
    this.userIdValue = userId;
    if (!this.latestCursor) {
      this.latestCursor = cursor;
      this.saveCursor();
    }
    this.setState({ status: 'open', transport, attempt: 0, nextRetryAt: null, lastError: null });
    this.emit('ready', { userId, cursor });
    for (const p of this.pending.values()) {
      if (transport === 'websocket') this.connection.send(p.frame);
      else void this.pending.sendOverHttp(p, this.api);
    }
  }

  private onFrame(frame: ServerFrame): void {
    switch (frame.type) {
      case 'event':
        this.onEvent(frame.event, frame.cursor);
        break;
      case 'receipt.updated':
        this.emit('receipt', frame.receipt);
        break;
      case 'sent':
        this.pending.settle(frame);
        break;
      case 'typing':
        this.emit('typing', { conversationId: frame.conversationId, userId: frame.userId });
        break;
      case 'presence':
        this.emit('presence', { userId: frame.userId, online: frame.online, at: frame.at });
        break;
      case 'error': {
        const error = new OncelyClientError(frame.code, frame.message);
        if (!frame.clientMsgId || !this.pending.fail(frame.clientMsgId, error)) {
          this.connection.noteServerError(frame.code, frame.message);
          this.emit('error', error);
        }
        break;
      }
      case 'pong':
      case 'ready':
      case 'authenticated':
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
        // History shows only the user's membership periods: seqs it skips, or a gap it has nothing for, were
        // sent while the user was not a member, and never come.
        const next = page.items[0]?.seq ?? gap.beforeSeq;
        for (const r of this.order.skipTo(conversationId, Math.min(next, gap.beforeSeq) - 1))
          this.emit('event', r);
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
    if (this.connection.socketOpen()) this.connection.send(p.frame);
    else if (this.currentState.transport === 'longpoll' && this.currentState.status === 'open')
      void this.pending.sendOverHttp(p, this.api);
    // Otherwise it waits: every pending send is (re)sent when a connection becomes ready.
  }

  // ---- plumbing ----

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
