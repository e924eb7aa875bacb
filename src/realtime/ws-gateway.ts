// The WebSocket endpoint `/v1/ws` (the `ws` library on the HTTP server's upgrade): a transport of realtime
// sessions (session.ts). It answers the upgrade, then only moves bytes: frames in to the session, frames out
// framed here and written once per turn of the event loop, pings, closes. Every rule of the connection is
// the session's.
import type { IncomingMessage, Server } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { rawHttpError } from '../errors.js';
import type { Logger } from '../observability/logger.js';
import type { Transport } from './session.js';
import type { Sessions } from './sessions.js';

export interface WsGatewayOptions {
  server: Server;
  sessions: Sessions;
  logger: Logger;
  /** Largest frame a client may send (bytes). */
  maxPayloadBytes: number;
  /** The client's address as the HTTP API sees it (behind trusted proxies, X-Forwarded-For). */
  clientAddress(request: IncomingMessage): string;
}

export interface WsGateway {
  /** Stops accepting upgrades and waits (briefly) for the sockets the sessions closed to finish closing. */
  close(): Promise<void>;
}

/** The TCP socket under a `ws` WebSocket (not in its public types, but stable since ws 1.x). */
const tcpOf = (ws: WebSocket) => (ws as unknown as { _socket: Socket | null })._socket;

const path = '/v1/ws';

/**
 * One server text frame as it goes on the wire (RFC 6455 §5.2: FIN + text opcode, the length, no mask from a
 * server), header and payload in one buffer.
 */
export function textFrame(payload: Buffer): Buffer {
  const n = payload.length;
  const head = n < 126 ? 2 : n < 65_536 ? 4 : 10;
  const out = Buffer.allocUnsafe(head + n);
  out[0] = 0x81;
  if (head === 2) out[1] = n;
  else if (head === 4) {
    out[1] = 126;
    out.writeUInt16BE(n, 2);
  } else {
    out[1] = 127;
    out.writeBigUInt64BE(BigInt(n), 2);
  }
  payload.copy(out, head);
  return out;
}

export function createWsGateway(opts: WsGatewayOptions): WsGateway {
  const { logger } = opts;
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: opts.maxPayloadBytes,
    perMessageDeflate: false,
  });
  const sockets = new Set<WebSocket>();
  let closing = false;
  // A fanned-out frame (an event, a presence change) is one Buffer handed to every member's socket in a
  // row: framed once here, instead of ws framing it anew for each socket (a header, an options object and
  // two stream writes per frame per socket: most of presence's cost per frame).
  let lastPayload: Buffer | undefined;
  let lastFramed: Buffer | undefined;
  const framed = (payload: Buffer) => {
    if (payload !== lastPayload) {
      lastPayload = payload;
      lastFramed = textFrame(payload);
    }
    return lastFramed!;
  };
  // Likewise a presence window's frames for the members that get the same ones: one Buffer of them all.
  let lastBatch: readonly Buffer[] | undefined;
  let lastBatchFramed: Buffer | undefined;
  const framedAll = (payloads: readonly Buffer[]) => {
    if (payloads !== lastBatch) {
      lastBatch = payloads;
      lastBatchFramed =
        payloads.length === 1 ? textFrame(payloads[0]!) : Buffer.concat(payloads.map(textFrame));
    }
    return lastBatchFramed!;
  };

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
    // Refusals (a bad token, a limit) are answered on the open socket: browsers do not show a failed
    // upgrade's status to the page.
    const address = opts.clientAddress(request);
    wss.handleUpgrade(request, socket, head, (ws) =>
      accept(ws, {
        address,
        ...optional('token', url.searchParams.get('token')),
        ...optional('cursor', url.searchParams.get('cursor')),
      }),
    );
  };
  opts.server.on('upgrade', onUpgrade);

  function accept(ws: WebSocket, request: { address: string; token?: string; cursor?: string }): void {
    sockets.add(ws);
    // The frames of one turn, written together at its end (flush): a group commit publishes its events
    // together, a presence window its changes, so each socket gets one write per turn, not one per frame.
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    const transport: Transport = {
      name: 'websocket',
      answersPings: true,
      write(frame) {
        if (ws.readyState !== ws.OPEN) return;
        const bytes = framed(frame);
        pending.push(bytes);
        pendingBytes += bytes.length;
      },
      signals(frames) {
        if (ws.readyState !== ws.OPEN) return;
        const bytes = framedAll(frames);
        pending.push(bytes);
        pendingBytes += bytes.length;
      },
      flush() {
        if (pending.length === 0) return;
        const out = pending.length === 1 ? pending[0]! : Buffer.concat(pending, pendingBytes);
        pending = [];
        pendingBytes = 0;
        // Straight onto the socket, in order with ws's own writes: without compression ws's sender never
        // queues, it writes each of its frames when asked. Nothing may follow a close frame ws has sent.
        const tcp = tcpOf(ws);
        if (ws.readyState === ws.OPEN && tcp) tcp.write(out);
      },
      buffered: () => ws.bufferedAmount + pendingBytes,
      ping: () => ws.ping(),
      close(code, reason) {
        transport.flush!();
        ws.close(code, reason);
      },
      terminate: () => ws.terminate(),
    };
    const session = opts.sessions.connect(transport, request);
    ws.on('pong', () => (session.alive = true));
    ws.on('message', (data: RawData, isBinary: boolean) =>
      session.receive(isBinary ? undefined : data.toString()),
    );
    ws.on('close', () => {
      sockets.delete(ws);
      session.closed();
    });
    ws.on('error', (err) => logger.debug({ err }, 'websocket error'));
  }

  return {
    async close() {
      if (closing) return;
      closing = true;
      opts.server.off('upgrade', onUpgrade);
      const deadline = Date.now() + 2_000;
      while (sockets.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      for (const ws of sockets) ws.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}

/** A query parameter given and not empty, as an optional field. */
const optional = <K extends string>(name: K, value: string | null) =>
  (value ? { [name]: value } : {}) as Partial<Record<K, string>>;
