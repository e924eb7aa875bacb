// Connection hygiene against the real server: per-user limit, heartbeats, back-pressure on slow readers,
// and close code 1001 on shutdown.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, startServer, text, waitFor, type TestApp, type TestServer } from './harness.js';
import { TestSocket } from './realtime-socket.js';

let server: TestServer;
let app: TestApp;
const sockets: TestSocket[] = [];

async function counter(name: 'realtimeDisconnects', reason: string): Promise<number> {
  const metric = await server.oncely.services.metrics[name].get();
  return metric.values.find((v) => v.labels.reason === reason)?.value ?? 0;
}

beforeAll(async () => {
  server = await startServer({
    ONCELY_MAX_CONNECTIONS_PER_USER: '2',
    ONCELY_SEND_BUFFER_LIMIT_BYTES: '65536',
    ONCELY_MESSAGE_MAX_BYTES: '262144',
    ONCELY_BODY_LIMIT_BYTES: '1048576',
  });
  app = await createApp(server.url);
});
afterAll(async () => {
  for (const s of sockets) s.ws.terminate();
  await server.stop();
});

describe('connection hygiene', () => {
  it('a user at the connection limit has the new connection refused with 4429; the old ones stay', async () => {
    const amy = await app.user('amy');
    const first = await TestSocket.connect(server.url, amy.token);
    const second = await TestSocket.connect(server.url, amy.token);
    sockets.push(first, second);
    const third = await TestSocket.open(server.url, amy.token);
    expect(await third.closed).toBe(4429);
    expect(third.frames[0]).toMatchObject({ type: 'error', code: 'too_many_connections' });
    const sse = await fetch(`${server.url}/v1/events?token=${amy.token}`);
    expect(sse.status).toBe(429);
    expect(first.ws.readyState).toBe(first.ws.OPEN);
    await first.close();
    await waitFor(async () => {
      const again = await TestSocket.open(server.url, amy.token);
      sockets.push(again);
      const frame = await again.waitFor((f) => f.type === 'ready' || f.type === 'error');
      return frame.type === 'ready';
    });
  });

  it('a peer that stops answering pings is dropped; one that answers stays', async () => {
    const beating = await startServer({ ONCELY_WS_HEARTBEAT_MS: '100' });
    try {
      const bapp = await createApp(beating.url);
      const [bo, cy] = await Promise.all([bapp.user('bo'), bapp.user('cy')]);
      const dead = await TestSocket.open(beating.url, bo.token, { autoPong: false });
      const alive = await TestSocket.connect(beating.url, cy.token);
      sockets.push(alive);
      expect(await dead.closed).toBe(1006);
      const metric = await beating.oncely.services.metrics.realtimeDisconnects.get();
      expect(metric.values.find((v) => v.labels.reason === 'heartbeat')?.value).toBe(1);
      // Several heartbeat intervals later the answering peer is still connected and served.
      alive.send({ type: 'ping' });
      await waitFor(() => alive.frames.filter((f) => f.type === 'pong').length === 2);
      expect(alive.ws.readyState).toBe(alive.ws.OPEN);
    } finally {
      await beating.stop();
    }
  });

  it('a slow reader is cut off with 4008 past the send-buffer limit, then resumes without loss', async () => {
    const [di, ed] = await Promise.all([app.user('di'), app.user('ed')]);
    const conv = await app.group(['di', 'ed']);
    const reader = await TestSocket.connect(server.url, di.token);
    const socket = (reader.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket;
    socket.pause();
    const big = 'x'.repeat(200_000);
    const total = 40;
    const before = await counter('realtimeDisconnects', 'slow_consumer');
    for (let i = 0; i < total; i++) {
      const res = await ed.post(`/v1/conversations/${conv}/messages`, { body: text(`${i} ${big}`) });
      expect(res.status).toBe(201);
    }
    await waitFor(async () => (await counter('realtimeDisconnects', 'slow_consumer')) > before);
    socket.resume();
    expect(await reader.closed).toBe(4008);
    const got = reader.events().length;
    expect(got).toBeLessThan(total);
    const resumed = await TestSocket.connect(server.url, di.token, reader.lastCursor());
    sockets.push(resumed);
    await resumed.waitForEvents(total - got, 20_000);
    const seqs = [...reader.events(), ...resumed.events()].map((f) => f.event.seq);
    expect(seqs).toEqual(Array.from({ length: total }, (_, i) => i + 1));
  });

  it('shutdown closes every socket with 1001 going away', async () => {
    const other = await startServer();
    const oapp = await createApp(other.url);
    const fi = await oapp.user('fi');
    const socket = await TestSocket.connect(other.url, fi.token);
    await other.stop();
    expect(await socket.closed).toBe(1001);
  });
});
