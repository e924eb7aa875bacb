// Connections that never end: a silent socket and a body dripped a byte at a time are closed after the
// request timeout, past the connection cap new sockets are closed at once — and live long-polls, SSE
// streams and WebSockets, quiet longer than the request and idle timeouts, are not cut.
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, startServer, waitFor, type TestServer } from './harness.js';
import { TestSocket } from './realtime-socket.js';

interface RawSocket {
  socket: Socket;
  received: () => string;
  closed: () => boolean;
}

async function rawSocket(url: string): Promise<RawSocket> {
  const { hostname, port } = new URL(url);
  const socket = connect({ host: hostname, port: Number(port) });
  let data = '';
  let closed = false;
  socket.on('data', (d: Buffer) => (data += d.toString()));
  socket.on('close', () => (closed = true));
  socket.on('error', () => undefined);
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  return { socket, received: () => data, closed: () => closed };
}

describe('request and idle timeouts', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startServer({
      ONCELY_HTTP_REQUEST_TIMEOUT_MS: '1000',
      ONCELY_HTTP_IDLE_TIMEOUT_MS: '3000',
      ONCELY_LONG_POLL_MAX_MS: '2500',
      ONCELY_WS_HEARTBEAT_MS: '300',
    });
  });
  afterAll(() => server.stop());

  it('a socket that never sends a byte is closed', async () => {
    const silent = await rawSocket(server.url);
    await waitFor(silent.closed, 8000);
  });

  it('a body dripped a byte at a time is cut with 408 request_timeout', async () => {
    const drip = await rawSocket(server.url);
    drip.socket.write(
      'POST /v1/apps HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n{',
    );
    const timer = setInterval(() => drip.socket.writable && drip.socket.write(' '), 200);
    try {
      await waitFor(drip.closed, 8000);
    } finally {
      clearInterval(timer);
    }
    expect(drip.received()).toMatch(/^HTTP\/1\.1 408/);
    expect(drip.received()).toContain('request_timeout');
  });

  it('a long-poll waiting longer than the request timeout is answered, not cut', async () => {
    const app = await createApp(server.url);
    const alice = await app.user('alice');
    const { cursor } = (await alice.get('/v1/sync')).body as { cursor: string };
    const started = Date.now();
    const res = await alice.get(`/v1/sync?cursor=${encodeURIComponent(cursor)}&timeoutMs=2500`);
    expect(res.status).toBe(200);
    expect(res.body.events).toEqual([]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(2000);
  });

  it('an SSE stream lives past the request and idle timeouts on its heartbeats', async () => {
    const app = await createApp(server.url, 'sse');
    const alice = await app.user('alice');
    const controller = new AbortController();
    const res = await fetch(`${server.url}/v1/events`, {
      headers: { authorization: `Bearer ${alice.token}` },
      signal: controller.signal,
    });
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    const started = Date.now();
    let pings = 0;
    // Heartbeats every 300 ms; the stream must still deliver them well past both timeouts (1 s, 3 s).
    while (Date.now() - started < 4000) {
      const { value, done } = await reader.read();
      expect(done).toBe(false);
      pings += (
        Buffer.from(value!)
          .toString()
          .match(/: ping/g) ?? []
      ).length;
    }
    expect(pings).toBeGreaterThan(5);
    controller.abort();
  });

  it('a WebSocket lives past the request and idle timeouts on its heartbeats, and still sends', async () => {
    const app = await createApp(server.url, 'ws');
    const conv = await app.group(['alice', 'bob']);
    const socket = await TestSocket.connect(server.url, (await app.user('alice')).token);
    let pings = 0;
    socket.ws.on('ping', () => pings++);
    const started = Date.now();
    // Pings every 300 ms: past both timeouts (1 s, 3 s) by the server's own clock, the client sending nothing.
    await waitFor(() => pings >= 14 || socket.closeCode !== undefined, 10_000);
    expect(socket.closeCode).toBeUndefined();
    expect(Date.now() - started).toBeGreaterThanOrEqual(3500);
    socket.send({
      type: 'send',
      clientMsgId: 'late',
      conversationId: conv,
      body: { type: 'text', text: 'hi' },
    });
    await socket.waitFor((f) => f.type === 'sent' && f.clientMsgId === 'late');
    await socket.close();
  });
});

describe('connection cap', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startServer({ ONCELY_MAX_CONNECTIONS: '3', ONCELY_HTTP_REQUEST_TIMEOUT_MS: '60000' });
  });
  afterAll(() => server.stop());

  it('past the cap a new connection is closed at once; those within it stay open', async () => {
    const held = [await rawSocket(server.url), await rawSocket(server.url), await rawSocket(server.url)];
    const extra = await rawSocket(server.url);
    await waitFor(extra.closed, 5000);
    expect(held.map((h) => h.closed())).toEqual([false, false, false]);
    for (const h of held) h.socket.destroy();
  });
});
