// The WebSocket endpoint `/v1/ws` (the `ws` library on the HTTP server's upgrade): authenticates a user,
// streams its events through a Subscription, and takes sends, receipts and recalls into the same paths as
// REST. Keeps connections healthy: heartbeats, a per-user limit, a send-buffer limit, 1001 on shutdown.
import type { IncomingMessage, Server } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { closeCodes } from '../../client/close-codes.js';
import type { Principal, UserPrincipal } from '../apps/principal.js';
import type { Clock } from '../clock.js';
import type { Receipts } from '../conversations/receipts.js';
import type { Recall } from '../conversations/recall.js';
import { OncelyError, rawHttpError, type ErrorCode } from '../errors.js';
import type { Ingest } from '../ingest/ingest.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { parseClientFrame, type ClientFrame, type FrameProblem, type ServerFrame } from './frames.js';
import type { Delivery, ReceiptDelivery, SignalDelivery } from './hub.js';
import type { Realtime } from './realtime.js';
import type { ConnectionRelease } from './connection-registry.js';
import type { Subscription } from './subscription.js';
import { watchExpiry, type ExpiryWatch } from './token-expiry.js';
import type { Typing } from './typing.js';

/** The parts the gateway uses (the composition root passes its services, which have them). */
export interface WsGatewayServices {
  config: { bodyLimitBytes: number };
  clock: Clock;
  logger: Logger;
  metrics: Metrics;
  /** Who a bearer token belongs to (the HTTP API's own check, so both refuse alike). */
  auth: { principalOf(token: string): Promise<Principal> };
  ingest: Ingest;
  receipts: Receipts;
  recall: Recall;
  typing: Typing;
}

export interface WsGatewayOptions {
  server: Server;
  realtime: Realtime;
  services: WsGatewayServices;
  heartbeatMs: number;
  authTimeoutMs: number;
  maxConnectionsPerUser: number;
  sendBufferLimitBytes: number;
  /** How long after `ready` live events wait for a first `resume` frame. Default 1 000. */
  resumeGraceMs?: number;
}

export interface WsGateway {
  /** Closes every connection with `code` (1001: going away) and stops accepting new ones. */
  close(code?: number): Promise<void>;
}

interface Connection {
  ws: WebSocket;
  alive: boolean;
  user?: UserPrincipal;
  subscription?: Subscription;
  /** `?cursor=` of the upgrade URL: resume at connect, with no race against live events. */
  startCursor?: string | undefined;
  /** Until the first frame (or the grace time), live events are held: the first frame may be a resume. */
  holding: boolean;
  /** The TCP socket is corked until the end of this turn of the event loop (see `send`). */
  corked: boolean;
  /** Ends the connection when its token expires, unless an `auth` frame brings a fresh one. */
  expiry?: ExpiryWatch;
  /** Its place in the user's connection limit. */
  releasePlace?: ConnectionRelease;
}

/** The TCP socket under a `ws` WebSocket (not in its public types, but stable since ws 1.x). */
const tcpOf = (ws: WebSocket) => (ws as unknown as { _socket: Socket | null })._socket;

const path = '/v1/ws';

export function createWsGateway(opts: WsGatewayOptions): WsGateway {
  const { realtime, services: s } = opts;
  const { logger, metrics } = s;
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: s.config.bodyLimitBytes,
    perMessageDeflate: false,
  });
  const connections = new Set<Connection>();
  let closing = false;

  // Upgrades refused before the handshake get the API's error shape, as every HTTP answer does.
  const refuseUpgrade = (socket: Duplex, ...answer: Parameters<typeof rawHttpError>) => {
    if (socket.writable) socket.end(rawHttpError(...answer));
    else socket.destroy();
  };
  // ws's own handshake checks (method, Upgrade, Sec-WebSocket-Key, -Version, -Protocol, -Extensions).
  wss.on('wsClientError', (err: Error, socket: Duplex, request: IncomingMessage) =>
    request.method === 'GET'
      ? refuseUpgrade(
          socket,
          'invalid_websocket_handshake',
          `not a valid WebSocket handshake: ${err.message}`,
          /Version/.test(err.message) ? { 'Sec-WebSocket-Version': '13, 8' } : {},
        )
      : refuseUpgrade(socket, 'method_not_allowed', `a WebSocket upgrade is a GET, not ${request.method}`, {
          Allow: 'GET',
        }),
  );

  const onUpgrade = (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    let url: URL;
    try {
      url = new URL(request.url ?? '/', 'http://localhost');
    } catch {
      return refuseUpgrade(socket, 'invalid_url', 'the URL is not valid');
    }
    if (closing) {
      return refuseUpgrade(socket, 'shutting_down', 'this instance is shutting down; retry', {
        'Retry-After': '1',
      });
    }
    if (url.pathname !== path) {
      return refuseUpgrade(
        socket,
        'route_not_found',
        `no WebSocket endpoint at ${url.pathname}; it is ${path}`,
      );
    }
    wss.handleUpgrade(request, socket, head, (ws) =>
      accept(ws, url.searchParams.get('token'), url.searchParams.get('cursor') ?? undefined),
    );
  };
  opts.server.on('upgrade', onUpgrade);

  // A peer that misses a ping is gone: dropped within two intervals.
  const heartbeat = setInterval(() => {
    for (const c of connections) {
      if (!c.alive) {
        metrics.realtimeDisconnects.inc({ reason: 'heartbeat' });
        c.ws.terminate();
        continue;
      }
      c.alive = false;
      c.ws.ping();
    }
  }, opts.heartbeatMs);
  heartbeat.unref();

  // Frames sent to one socket in one turn of the event loop leave in one write: a group commit publishes
  // its events together, so under load each socket gets a batch per commit instead of a syscall per frame.
  const corked: Connection[] = [];
  const uncorkAll = () => {
    for (const c of corked.splice(0)) {
      c.corked = false;
      tcpOf(c.ws)?.uncork();
      // What the kernel would not take is the reader's backlog.
      if (c.ws.bufferedAmount > opts.sendBufferLimitBytes) cutSlow(c);
    }
  };

  function send(c: Connection, frame: ServerFrame | Buffer): void {
    if (c.ws.readyState !== c.ws.OPEN) return;
    const tcp = tcpOf(c.ws);
    if (!c.corked && tcp) {
      c.corked = true;
      tcp.cork();
      if (corked.push(c) === 1) setImmediate(uncorkAll);
    }
    c.ws.send(Buffer.isBuffer(frame) ? frame : JSON.stringify(frame), { binary: false });
  }

  function cutSlow(c: Connection): void {
    if (c.ws.readyState !== c.ws.OPEN) return;
    logger.warn(
      { userId: c.user?.userId, buffered: c.ws.bufferedAmount },
      'websocket reader too slow; closing',
    );
    metrics.realtimeDisconnects.inc({ reason: 'slow_consumer' });
    c.subscription?.close();
    c.ws.close(closeCodes.slowConsumer.code, 'slow_consumer');
    // The close frame waits behind the unread data; a reader that never drains is cut off.
    setTimeout(() => c.ws.terminate(), 5_000).unref();
  }

  function refuse(c: Connection, error: OncelyError, closeCode: number): void {
    metrics.realtimeDisconnects.inc({ reason: error.code });
    send(c, { type: 'error', code: error.code, message: error.message });
    c.ws.close(closeCode, error.code);
  }

  function accept(ws: WebSocket, urlToken: string | null, urlCursor: string | undefined): void {
    const c: Connection = { ws, alive: true, startCursor: urlCursor, holding: true, corked: false };
    connections.add(c);
    metrics.connections.inc({ transport: 'websocket' });
    let ready: Promise<boolean>;
    let resolveAuthFrame: ((token: string) => void) | undefined;
    let authTimer: ReturnType<typeof setTimeout> | undefined;

    if (urlToken) ready = authenticate(c, urlToken);
    else {
      authTimer = setTimeout(
        () =>
          refuse(
            c,
            OncelyError.of('auth_timeout', `send {"type":"auth","token"} within ${opts.authTimeoutMs} ms`),
            closeCodes.unauthorized.code,
          ),
        opts.authTimeoutMs,
      );
      ready = new Promise<string>((resolve) => (resolveAuthFrame = resolve)).then((token) => {
        clearTimeout(authTimer);
        return authenticate(c, token);
      });
    }

    ws.on('pong', () => (c.alive = true));
    ws.on('message', (data: RawData, isBinary: boolean) => {
      c.alive = true;
      const parsed: { frame: ClientFrame } | FrameProblem = isBinary
        ? { problem: 'frames are JSON text' }
        : parseClientFrame(data.toString());
      if ('problem' in parsed) {
        const { problem, clientMsgId } = parsed;
        const code = 'invalid_frame' satisfies ErrorCode;
        return send(
          c,
          clientMsgId === undefined
            ? { type: 'error', code, message: problem }
            : { type: 'error', code, message: problem, clientMsgId },
        );
      }
      const frame = parsed.frame;
      if (resolveAuthFrame) {
        if (frame.type !== 'auth')
          return refuse(
            c,
            OncelyError.of('auth_required', 'the first frame must be auth'),
            closeCodes.unauthorized.code,
          );
        const resolve = resolveAuthFrame;
        resolveAuthFrame = undefined;
        return resolve(frame.token);
      }
      // Frames that arrive while the token is checked wait for it, in order (a resume sent right after
      // opening is handled before anything goes live).
      void ready.then((ok) => (ok ? handle(c, frame) : undefined));
    });
    ws.on('close', () => {
      clearTimeout(authTimer);
      c.expiry?.close();
      connections.delete(c);
      metrics.connections.dec({ transport: 'websocket' });
      c.subscription?.close();
      c.releasePlace?.();
    });
    ws.on('error', (err) => logger.debug({ err }, 'websocket error'));
  }

  async function authenticate(c: Connection, token: string): Promise<boolean> {
    let user: UserPrincipal;
    try {
      const p = await s.auth.principalOf(token);
      if (p.kind !== 'user') throw OncelyError.of('user_token_required', 'the WebSocket takes a user token');
      user = p;
    } catch (err) {
      const e = err instanceof OncelyError ? err : OncelyError.of('invalid_token', 'the token is not valid');
      refuse(c, e, closeCodes.unauthorized.code);
      return false;
    }
    if (c.ws.readyState !== c.ws.OPEN) return false;
    const place = await realtime.reserveSession(user.appId, user.userId, opts.maxConnectionsPerUser);
    if (place && c.ws.readyState !== c.ws.OPEN) place();
    if (c.ws.readyState !== c.ws.OPEN) return false;
    if (!place) {
      refuse(
        c,
        OncelyError.of(
          'too_many_connections',
          `a user may hold ${opts.maxConnectionsPerUser} connections; this new one is refused`,
        ),
        closeCodes.tooManyConnections.code,
      );
      return false;
    }
    c.user = user;
    c.releasePlace = place;
    c.expiry = watchExpiry(s.clock, user.expiresAt, () =>
      refuse(
        c,
        OncelyError.of(
          'token_expired',
          'the token has expired: send {"type":"auth","token"} with a fresh one before it does, or reconnect',
        ),
        closeCodes.unauthorized.code,
      ),
    );
    const subscription = realtime.subscribe(user.appId, user.userId, {
      event: (d: Delivery) => send(c, d.frame),
      receipt: (r: ReceiptDelivery) => send(c, r.frame),
      signal: (d: SignalDelivery) => send(c, d.frame),
      full: () => c.ws.bufferedAmount > opts.sendBufferLimitBytes / 2,
      drained: () => drained(c),
      overflow: () => cutSlow(c),
    });
    c.subscription = subscription;
    let now: number;
    try {
      now = await subscription.start();
    } catch (err) {
      failed(c, err);
      return false;
    }
    if (c.ws.readyState !== c.ws.OPEN) {
      subscription.close();
      return false;
    }
    send(c, { type: 'ready', userId: user.userId, cursor: realtime.cursor(now) });
    if (c.startCursor !== undefined) {
      c.holding = false;
      let from: number;
      try {
        from = await realtime.position(c.startCursor);
      } catch (err) {
        if (err instanceof OncelyError) refuse(c, err, closeCodes.invalidCursor.code);
        else failed(c, err);
        return false;
      }
      subscription.resume(from).catch((err: unknown) => failed(c, err));
    } else {
      // A client that resumes sends `resume` as its first frame; one that does not gets live events from
      // `ready` once it sends anything or after a short grace (held, not lost, meanwhile).
      setTimeout(() => release(c), opts.resumeGraceMs ?? 1_000).unref();
    }
    return true;
  }

  /** The store failed under a connection: close it (1011) so the client reconnects and resumes. */
  function failed(c: Connection, err: unknown): void {
    logger.error({ err, userId: c.user?.userId }, 'websocket stream failed');
    metrics.realtimeDisconnects.inc({ reason: 'internal_error' });
    c.subscription?.close();
    c.ws.close(closeCodes.internalError.code, 'internal_error');
  }

  /** Ends the hold: live from `ready`, unless the first frame was a resume. */
  function release(c: Connection): void {
    if (!c.holding) return;
    c.holding = false;
    c.subscription?.goLive();
  }

  async function handle(c: Connection, frame: ClientFrame): Promise<void> {
    const user = c.user!;
    if (frame.type !== 'resume') release(c);
    try {
      switch (frame.type) {
        case 'ping':
          return send(c, { type: 'pong' });
        case 'auth':
          return await reauthenticate(c, user, frame.token);
        case 'resume': {
          const pos = await realtime.position(frame.cursor);
          c.holding = false;
          // A failed replay leaves the stream half-sent: close rather than continue with a hole.
          return await c.subscription!.resume(pos).catch((err: unknown) => failed(c, err));
        }
        case 'send':
          return await sendMessage(c, user, frame);
        case 'receipt':
          await s.receipts.update(user, frame.conversationId, {
            deliveredSeq: frame.deliveredSeq,
            readSeq: frame.readSeq,
          });
          return;
        case 'recall':
          await s.recall.recall(user, frame.messageId);
          return;
        case 'typing':
          return await s.typing.typing(user, frame.conversationId);
      }
    } catch (err) {
      const clientMsgId = frame.type === 'send' ? frame.clientMsgId : undefined;
      if (err instanceof OncelyError) {
        return send(c, {
          type: 'error',
          code: err.code,
          message: err.message,
          ...(clientMsgId ? { clientMsgId } : {}),
        });
      }
      logger.error({ err, frame: frame.type }, 'websocket frame failed');
      send(c, {
        type: 'error',
        code: 'internal_error' satisfies ErrorCode,
        message: 'internal error',
        ...(clientMsgId ? { clientMsgId } : {}),
      });
    }
  }

  /** A fresh token for the same user moves the connection's end to its expiry (13.8). */
  async function reauthenticate(c: Connection, user: UserPrincipal, token: string): Promise<void> {
    const p = await s.auth.principalOf(token);
    if (p.kind !== 'user' || p.appId !== user.appId || p.userId !== user.userId) {
      throw OncelyError.of('token_user_mismatch', 'a fresh token must be one of the same user');
    }
    c.expiry?.renew(p.expiresAt);
    send(c, {
      type: 'authenticated',
      userId: p.userId,
      ...(p.expiresAt !== undefined ? { expiresAt: new Date(p.expiresAt).toISOString() } : {}),
    });
  }

  async function sendMessage(
    c: Connection,
    user: UserPrincipal,
    frame: Extract<ClientFrame, { type: 'send' }>,
  ) {
    const { conversationId, body, clientMsgId } = frame;
    // Keyed by clientMsgId in the user's scope, as a REST send with it: a retry over either is one message.
    const { result, duplicate } = await s.ingest.sendAsActor({
      actor: user,
      conversationId,
      body,
      clientMsgId,
      source: 'ws',
    });
    // Invariant 2: `sent` only after the commit (ingest.send resolves after it).
    send(c, {
      type: 'sent',
      clientMsgId,
      id: result.id,
      seq: result.seq,
      duplicate,
    });
  }

  async function drained(c: Connection): Promise<void> {
    // ws has no drain event of its own; poll the buffered amount (bounded: the socket closes eventually).
    while (c.ws.readyState === c.ws.OPEN && c.ws.bufferedAmount > opts.sendBufferLimitBytes / 4) {
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  return {
    async close(code: number = closeCodes.goingAway.code) {
      if (closing) return;
      closing = true;
      clearInterval(heartbeat);
      opts.server.off('upgrade', onUpgrade);
      for (const c of connections) {
        c.subscription?.close();
        c.ws.close(code, 'server shutting down');
      }
      const deadline = Date.now() + 2_000;
      while (connections.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      for (const c of connections) c.ws.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}
