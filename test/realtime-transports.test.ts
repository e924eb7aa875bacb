// Long-poll and SSE over the same cursors as the WebSocket; isolation across every transport; tokens.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../src/clock.js';
import { createApp, startServer, text, waitFor, type TestApp, type TestServer } from './harness.js';
import { CursorCodec } from '../src/realtime/cursor.js';
import { TestSocket } from './realtime-socket.js';
import { collectSse } from './sse-stream.js';

let server: TestServer;
let app: TestApp;
const cleanups: Array<() => void> = [];

beforeAll(async () => {
  server = await startServer();
  app = await createApp(server.url);
});
afterAll(async () => {
  for (const c of cleanups) c();
  await server.stop();
});

/** Reads an SSE response with fetch (as a browser's EventSource would), collecting its messages. */
async function openSse(path: string, headers: Record<string, string> = {}) {
  const abort = new AbortController();
  cleanups.push(() => abort.abort());
  const res = await fetch(server.url + path, { headers, signal: abort.signal });
  const { messages, comments } = collectSse(res);
  const events = () => messages.filter((m) => m.data.type === 'event');
  return { res, messages, comments, events, close: () => abort.abort() };
}

/** Long-polls from `cursor` until `n` events have come, following the returned cursors. */
async function longPoll(
  client: { get: (p: string) => Promise<{ status: number; body: any }> },
  cursor: string,
  n: number,
) {
  const events: any[] = [];
  while (events.length < n) {
    const res = await client.get(`/v1/sync?cursor=${cursor}&timeoutMs=5000`);
    expect(res.status).toBe(200);
    events.push(...res.body.events);
    cursor = res.body.cursor;
  }
  return { events, cursor };
}

describe('long-poll and SSE', () => {
  it('long-poll, SSE and WebSocket readers see the same events in the same order', async () => {
    const [pia, quin] = await Promise.all([app.user('pia'), app.user('quin')]);
    const conv = await app.group(['pia', 'quin']);
    const now = await pia.get('/v1/sync');
    expect(now.body.events).toEqual([]);
    const ws = await TestSocket.connect(server.url, pia.token);
    cleanups.push(() => ws.ws.terminate());
    const sse = await openSse(`/v1/events?token=${pia.token}`);
    expect(sse.res.headers.get('content-type')).toContain('text/event-stream');
    await waitFor(() => sse.messages.some((m) => m.data.type === 'ready'));
    // A long-poll waiting before anything is sent is woken by the first event.
    const polled = longPoll(pia, now.body.cursor, 60);
    for (let i = 0; i < 60; i++)
      await quin.post(`/v1/conversations/${conv}/messages`, { body: text(`t${i}`) });
    const { events, cursor } = await polled;
    await ws.waitForEvents(60);
    await waitFor(() => sse.events().length >= 60);
    const ids = events.map((e) => e.id);
    expect(ws.events().map((f) => f.event.id)).toEqual(ids);
    expect(sse.events().map((m) => m.data.event.id)).toEqual(ids);
    // Cursors agree across transports: SSE's id is the WebSocket frame's cursor.
    expect(sse.events().map((m) => m.id)).toEqual(ws.events().map((f) => f.cursor));
    expect(cursor).toBe(ws.lastCursor());
    const empty = await pia.get(`/v1/sync?cursor=${cursor}&timeoutMs=0`);
    expect(empty.body).toEqual({ events: [], cursor });
  });

  it('SSE resumes from Last-Event-ID with exactly what came after it', async () => {
    const [ray, sol] = await Promise.all([app.user('ray'), app.user('sol')]);
    const conv = await app.group(['ray', 'sol']);
    const first = await openSse('/v1/events', { authorization: `Bearer ${ray.token}` });
    for (let i = 0; i < 5; i++) await sol.post(`/v1/conversations/${conv}/messages`, { body: text(`a${i}`) });
    await waitFor(() => first.events().length === 5);
    const lastId = first.events()[2]!.id!;
    first.close();
    const again = await openSse('/v1/events', {
      authorization: `Bearer ${ray.token}`,
      'last-event-id': lastId,
    });
    await sol.post(`/v1/conversations/${conv}/messages`, { body: text('b') });
    await waitFor(() => again.events().length === 3);
    expect(again.events().map((m) => m.data.event.seq)).toEqual([4, 5, 6]);
  });

  it('SSE carries receipt.updated to the members; receipts have no id (no cursor)', async () => {
    const [uli, val] = await Promise.all([app.user('uli'), app.user('val')]);
    const conv = await app.group(['uli', 'val']);
    const sse = await openSse(`/v1/events?token=${uli.token}`);
    await waitFor(() => sse.messages.some((m) => m.data.type === 'ready'));
    await uli.post(`/v1/conversations/${conv}/messages`, { body: text('read me') });
    await val.post(`/v1/conversations/${conv}/receipts`, { readSeq: 1 });
    await waitFor(() => sse.messages.some((m) => m.data.type === 'receipt.updated'));
    const receipt = sse.messages.find((m) => m.data.type === 'receipt.updated')!;
    expect(receipt.data.receipt).toEqual({
      conversationId: conv,
      userId: 'val',
      deliveredSeq: 1,
      readSeq: 1,
    });
    expect(receipt.id).toBeUndefined();
  });

  it('a bad cursor is refused: 400 invalid_cursor on long-poll, close 4400 on the WebSocket URL', async () => {
    const tom = await app.user('tom');
    expect((await tom.get('/v1/sync?cursor=nope')).body.error.code).toBe('invalid_cursor');
    // Of this database (its epoch) but past the store's head.
    const ahead = server.oncely.services.realtime.cursor(1e12);
    expect((await tom.get(`/v1/sync?cursor=${ahead}`)).body.error.code).toBe('invalid_cursor');
    const socket = await TestSocket.openUrl(
      `${server.url.replace('http', 'ws')}/v1/ws?token=${tom.token}&cursor=${ahead}`,
    );
    expect(await socket.closed).toBe(4400);
    expect(socket.frames.at(-1)).toMatchObject({ type: 'error', code: 'invalid_cursor' });
    expect((await tom.get('/v1/sync?cursor=&timeoutMs=5')).status).toBe(400);
    // Of another database (another epoch), at a position this one has: refused everywhere, never read here.
    const foreign = new CursorCodec('another0db1').encode(1);
    expect((await tom.get(`/v1/sync?cursor=${foreign}`)).body.error.code).toBe('invalid_cursor');
    const sse = await tom.get(`/v1/events?cursor=${foreign}`);
    expect([sse.status, sse.body.error.code]).toEqual([400, 'invalid_cursor']);
    const byUrl = await TestSocket.openUrl(
      `${server.url.replace('http', 'ws')}/v1/ws?token=${tom.token}&cursor=${foreign}`,
    );
    expect(await byUrl.closed).toBe(4400);
    const byFrame = await TestSocket.open(server.url, tom.token);
    byFrame.send({ type: 'resume', cursor: foreign });
    const refused = await byFrame.waitFor((f) => f.type === 'error');
    expect(refused.code).toBe('invalid_cursor');
    expect(byFrame.events()).toEqual([]);
    await byFrame.close();
    expect((await tom.get('/v1/sync?timeoutMs=30001')).status).toBe(400);
    expect((await app.api.get('/v1/sync')).body.error.code).toBe('user_token_required');
  });
});

describe('isolation and tokens', () => {
  it('a non-member receives nothing of a conversation by any transport', async () => {
    const [uma, vic, out] = await Promise.all([app.user('uma'), app.user('vic'), app.user('out')]);
    const conv = await app.group(['uma', 'vic']);
    const start = (await out.get('/v1/sync')).body.cursor as string;
    const ws = await TestSocket.connect(server.url, out.token);
    cleanups.push(() => ws.ws.terminate());
    const sse = await openSse(`/v1/events?token=${out.token}`);
    const member = await TestSocket.connect(server.url, uma.token);
    cleanups.push(() => member.ws.terminate());
    for (let i = 0; i < 10; i++)
      await vic.post(`/v1/conversations/${conv}/messages`, { body: text(`secret ${i}`) });
    await member.waitForEvents(10);
    // A resume from before the messages, and a long-poll from there, find nothing either.
    const resumed = await TestSocket.connect(server.url, out.token, start);
    cleanups.push(() => resumed.ws.terminate());
    const polled = await out.get(`/v1/sync?cursor=${start}&timeoutMs=0`);
    await ws.send({ type: 'ping' });
    await ws.waitFor((f) => f.type === 'pong');
    expect(polled.body.events).toEqual([]);
    expect(ws.events()).toEqual([]);
    expect(resumed.events()).toEqual([]);
    expect(sse.events()).toEqual([]);
    expect((await out.get(`/v1/conversations/${conv}/messages`)).status).toBe(403);
    // Another app's user with the same id sees nothing either.
    const other = await createApp(server.url, 'other');
    const twin = await other.user('uma');
    expect((await twin.get(`/v1/sync?cursor=${start}&timeoutMs=0`)).body.events).toEqual([]);
  });

  it('forged, expired and missing tokens are refused with error frames and close code 4401', async () => {
    const forgedToken = (await app.user('wes')).token.slice(0, -4) + 'AAAA';
    const forged = await TestSocket.open(server.url, forgedToken);
    expect(await forged.closed).toBe(4401);
    expect(forged.frames).toEqual([{ type: 'error', code: 'invalid_token', message: expect.any(String) }]);

    const appKey = await TestSocket.open(server.url, app.apiKey);
    expect(await appKey.closed).toBe(4401);
    expect(appKey.frames[0]).toMatchObject({ code: 'user_token_required' });

    // A first auth frame works like ?token=.
    const wes = await app.user('wes');
    const byFrame = await TestSocket.open(server.url);
    cleanups.push(() => byFrame.ws.terminate());
    byFrame.send({ type: 'auth', token: wes.token });
    expect(await byFrame.waitFor((f) => f.type === 'ready')).toMatchObject({ userId: 'wes' });

    const notAuth = await TestSocket.open(server.url);
    notAuth.send({ type: 'ping' });
    expect(await notAuth.closed).toBe(4401);
    expect(notAuth.frames[0]).toMatchObject({ code: 'auth_required' });

    const sse = await fetch(`${server.url}/v1/events?token=${forgedToken}`);
    expect(sse.status).toBe(401);
    expect(((await sse.json()) as any).error.code).toBe('invalid_token');
  });

  it('an expired token is refused with token_expired; a silent socket is closed at the auth deadline', async () => {
    const clock = new ManualClock();
    const timed = await startServer({ ONCELY_WS_AUTH_TIMEOUT_MS: '100' }, { clock });
    try {
      const tapp = await createApp(timed.url);
      await tapp.api.put('/v1/users/xan', {});
      const { body } = await tapp.api.post('/v1/users/xan/tokens', { ttlSeconds: 60 });
      clock.advance(61_000);
      const expired = await TestSocket.open(timed.url, body.token);
      expect(await expired.closed).toBe(4401);
      expect(expired.frames[0]).toMatchObject({ code: 'token_expired' });
      const poll = await fetch(`${timed.url}/v1/sync`, {
        headers: { authorization: `Bearer ${body.token}` },
      });
      expect(poll.status).toBe(401);

      const silent = await TestSocket.open(timed.url);
      expect(await silent.closed).toBe(4401);
      expect(silent.frames[0]).toMatchObject({ code: 'auth_timeout' });
    } finally {
      await timed.stop();
    }
  });
});
