// A realtime session lasts as long as its token: the WebSocket closes at expiry (4401 token_expired) unless
// the client sent a fresh token of the same user in an `auth` frame; an SSE stream ends at expiry and a
// long-poll never waits past it; the client library hands the server fresh tokens from the application's
// callback and never drops the session.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { OncelyClient, type ConnectionState, type WebSocketConstructor } from '../client/index.js';
import { client, createApp, startServer, text, waitFor, type TestApp, type TestServer } from './harness.js';
import { TestSocket } from './realtime-socket.js';

let server: TestServer;
let app: TestApp;
let conv: string;

beforeAll(async () => {
  server = await startServer();
  app = await createApp(server.url);
  conv = await app.group(['alice', 'bob']);
});
afterAll(() => server.stop());

/** A token of `userId` and the time (ms) it expires. */
async function token(userId: string, ttlSeconds: number): Promise<{ token: string; expiresAt: number }> {
  const res = await app.api.post(`/v1/users/${userId}/tokens`, { ttlSeconds });
  expect(res.status).toBe(201);
  return { token: res.body.token, expiresAt: Date.parse(res.body.expiresAt) };
}

const after = (t: number) => waitFor(() => Date.now() > t, 10_000, 50);

describe('WebSocket sessions end with their token', () => {
  it('closes at the token’s expiry with 4401 and token_expired; nothing is sent after it', async () => {
    const short = await token('alice', 2);
    const socket = await TestSocket.connect(server.url, short.token);
    expect(await socket.closed).toBe(4401);
    expect(socket.closeReason).toBe('token_expired');
    expect(socket.frames.at(-1)).toMatchObject({ type: 'error', code: 'token_expired' });
    expect(Date.now()).toBeGreaterThanOrEqual(short.expiresAt - 50);
  });

  it('a fresh token of the same user in an auth frame keeps the session open past the first expiry', async () => {
    const short = await token('alice', 2);
    const socket = await TestSocket.connect(server.url, short.token);
    const fresh = await token('alice', 60);
    socket.send({ type: 'auth', token: fresh.token });
    const ack = await socket.waitFor((f) => f.type === 'authenticated');
    expect(ack).toMatchObject({ userId: 'alice', expiresAt: new Date(fresh.expiresAt).toISOString() });
    await after(short.expiresAt + 500);
    socket.send({
      type: 'send',
      clientMsgId: 'after-expiry',
      conversationId: conv,
      body: text('still here'),
    });
    const sent = await socket.waitFor((f) => f.type === 'sent' && f.clientMsgId === 'after-expiry');
    expect(sent.seq).toBeGreaterThan(0);
    expect(socket.closeCode).toBeUndefined();
    await socket.close();
  });

  it('a token of another user, or an expired or forged one, is refused and the first expiry still holds', async () => {
    const short = await token('alice', 2);
    const socket = await TestSocket.connect(server.url, short.token);
    socket.send({ type: 'auth', token: (await token('bob', 60)).token });
    await socket.waitFor((f) => f.type === 'error' && f.code === 'token_user_mismatch');
    socket.send({ type: 'auth', token: `${short.token.slice(0, -4)}AAAA` });
    await socket.waitFor((f) => f.type === 'error' && f.code === 'invalid_token');
    expect(socket.frames.some((f) => f.type === 'authenticated')).toBe(false);
    expect(await socket.closed).toBe(4401);
    expect(socket.closeReason).toBe('token_expired');
  });
});

describe('SSE streams end with their token', () => {
  it('the stream says token_expired and ends at expiry', async () => {
    const short = await token('alice', 2);
    const res = await fetch(`${server.url}/v1/events`, {
      headers: { authorization: `Bearer ${short.token}` },
    });
    expect(res.status).toBe(200);
    let body = '';
    const decoder = new TextDecoder();
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) body += decoder.decode(chunk);
    // The loop ended: the server ended the stream.
    expect(body).toContain('"type":"ready"');
    expect(body).toContain('"code":"token_expired"');
    expect(Date.now()).toBeGreaterThanOrEqual(short.expiresAt - 50);
  });
});

describe('long-polls end with their token', () => {
  it('a poll asked to wait past its token’s expiry is answered by then; the next one is token_expired', async () => {
    const short = await token('alice', 2);
    const alice = client(server.url, short.token);
    const { cursor } = (await alice.get('/v1/sync')).body as { cursor: string };
    const res = await alice.get(`/v1/sync?cursor=${encodeURIComponent(cursor)}&timeoutMs=25000`);
    expect([res.status, res.body.events]).toEqual([200, []]);
    // Answered at the expiry, not after the 25 s it asked for.
    expect(Date.now()).toBeGreaterThanOrEqual(short.expiresAt - 50);
    expect(Date.now()).toBeLessThan(short.expiresAt + 10_000);
    await after(short.expiresAt);
    const next = await alice.get(`/v1/sync?cursor=${encodeURIComponent(res.body.cursor)}&timeoutMs=25000`);
    expect([next.status, next.body.error.code]).toEqual([401, 'token_expired']);
  });
});

describe('the client library refreshes through the application’s callback', () => {
  it('stays connected across several token lifetimes and still receives', async () => {
    let issued = 0;
    const client = new OncelyClient({
      url: server.url,
      token: async () => (issued++, (await token('alice', 4)).token),
      WebSocket: WebSocket as unknown as WebSocketConstructor,
      backoff: { initialMs: 50, maxMs: 400 },
    });
    const states: ConnectionState['status'][] = [];
    client.on('state', (s: ConnectionState) => states.push(s.status));
    const texts: string[] = [];
    client.on('event', (e) => {
      if (e.body?.type === 'text') texts.push(e.body.text);
    });
    void client.connect();
    try {
      await waitFor(() => client.state.status === 'open');
      const openedAt = states.length;
      // Three tokens of 4 s each, each asked for half way through the one before: the first has expired.
      const firstExpired = Date.now() + 4_000;
      await waitFor(() => issued >= 3 && Date.now() > firstExpired, 20_000, 50);
      await app.api.post(`/v1/conversations/${conv}/messages`, { from: 'bob', body: text('refreshed') });
      await waitFor(() => texts.includes('refreshed'));
      // Never closed and reopened: the session carried on with each fresh token.
      expect(states.slice(openedAt).filter((s) => s !== 'open')).toEqual([]);
    } finally {
      client.close();
    }
  });
});
