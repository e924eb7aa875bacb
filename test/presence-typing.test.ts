// Typing and presence on one instance: typing reaches the conversation's other online members (WebSocket
// and SSE) and not non-members or removed members, at most once a second per user and conversation;
// presence frames when a member's first session opens and last one closes (not for a second device), and
// GET …/presence from the live sessions.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../src/clock.js';
import {
  adminToken,
  client,
  createApp,
  startServer,
  waitFor,
  type Client,
  type TestApp,
  type TestServer,
} from './harness.js';
import { TestSocket, type Frame } from './realtime-socket.js';
import { collectSse } from './sse-stream.js';

const clock = new ManualClock();
let server: TestServer;
let app: TestApp;
const cleanups: Array<() => unknown> = [];

beforeAll(async () => {
  server = await startServer({}, { clock });
  app = await createApp(server.url);
});
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});
afterAll(() => server.stop());

async function connect(user: { token: string }): Promise<TestSocket> {
  const socket = await TestSocket.connect(server.url, user.token);
  cleanups.push(() => socket.close());
  return socket;
}

/** An SSE stream read as EventSource would, keeping each message's event name. */
async function openSse(token: string) {
  const abort = new AbortController();
  cleanups.push(() => abort.abort());
  const res = await fetch(`${server.url}/v1/events?token=${token}`, { signal: abort.signal });
  const { messages } = collectSse(res);
  await waitFor(() => messages.some((m) => m.data.type === 'ready'));
  return { messages, close: () => abort.abort() };
}

const typingFrames = (s: TestSocket, conversationId: string) =>
  s.frames.filter((f) => f.type === 'typing' && f.conversationId === conversationId);
const presenceOf = (s: TestSocket, userId: string) =>
  s.frames.filter((f) => f.type === 'presence' && f.userId === userId);

describe('typing', () => {
  let alice: Client & { token: string };
  let bob: Client & { token: string };
  let carol: Client & { token: string };
  let dave: Client & { token: string };
  let erin: Client & { token: string };
  let group: string;
  let marker: string;

  beforeAll(async () => {
    alice = await app.user('alice');
    bob = await app.user('bob');
    carol = await app.user('carol');
    dave = await app.user('dave');
    erin = await app.user('erin');
    group = await app.group(['alice', 'bob', 'carol', 'erin']);
    expect((await app.api.delete(`/v1/conversations/${group}/members/erin`)).status).toBe(200);
    // Every user is in this one: a typing in it, seen by all, shows that an earlier one had its turn.
    marker = await app.group(['alice', 'bob', 'carol', 'dave', 'erin']);
  });

  it('reaches the other online members over WebSocket and SSE, not the typist, a non-member or a removed member', async () => {
    const [a, b, d, e] = [await connect(alice), await connect(bob), await connect(dave), await connect(erin)];
    const c = await openSse(carol.token);
    a.send({ type: 'typing', conversationId: group });
    const seen = await b.waitFor((f) => f.type === 'typing' && f.conversationId === group);
    expect(seen).toEqual({ type: 'typing', conversationId: group, userId: 'alice' });
    await waitFor(() => c.messages.some((m) => m.event === 'typing'));
    expect(c.messages.find((m) => m.event === 'typing')!.data).toEqual(seen);

    clock.advance(1_000);
    a.send({ type: 'typing', conversationId: marker });
    for (const s of [d, e, b]) await s.waitFor((f) => f.type === 'typing' && f.conversationId === marker);
    expect(typingFrames(d, group)).toEqual([]);
    expect(typingFrames(e, group)).toEqual([]);
    expect(typingFrames(a, group)).toEqual([]);
    expect(typingFrames(a, marker)).toEqual([]);
  });

  it('at most one per second per user and conversation; the extra ones are dropped silently', async () => {
    const [a, b] = [await connect(alice), await connect(bob)];
    const other = await app.group(['alice', 'bob']);
    clock.advance(1_000);
    for (let i = 0; i < 5; i++) a.send({ type: 'typing', conversationId: group });
    await b.waitFor((f) => f.type === 'typing' && f.conversationId === group);
    clock.advance(999);
    a.send({ type: 'typing', conversationId: group });
    // Another conversation has its own allowance; its typing arriving shows the one before was handled.
    a.send({ type: 'typing', conversationId: other });
    await b.waitFor((f) => f.type === 'typing' && f.conversationId === other);
    expect(typingFrames(b, group)).toHaveLength(1);
    expect(a.frames.filter((f) => f.type === 'error')).toEqual([]);

    clock.advance(1);
    a.send({ type: 'typing', conversationId: group });
    await waitFor(() => typingFrames(b, group).length === 2);
  });

  it('a non-member (or a removed member) is refused with an error frame not_member', async () => {
    const [d, e] = [await connect(dave), await connect(erin)];
    d.send({ type: 'typing', conversationId: group });
    e.send({ type: 'typing', conversationId: group });
    for (const s of [d, e]) {
      const error = await s.waitFor((f) => f.type === 'error');
      expect(error.code).toBe('not_member');
    }
    const bad = await connect(alice);
    bad.send({ type: 'typing' });
    expect((await bad.waitFor((f) => f.type === 'error')).code).toBe('invalid_frame');
  });
});

describe('presence', () => {
  it('frames on first open and last close only; GET …/presence follows the sessions', async () => {
    const pia = await app.user('pia');
    const quinn = await app.user('quinn');
    const ray = await app.user('ray');
    const conv = await app.group(['pia', 'quinn']);
    // ray shares no conversation with pia: she never hears of him.
    await app.group(['quinn', 'ray']);
    const watcher = await connect(pia);

    const states = async (as: Client = pia) => {
      const res = await as.get(`/v1/conversations/${conv}/presence`);
      expect(res.status).toBe(200);
      return Object.fromEntries(res.body.items.map((i: Frame) => [i.userId, i]));
    };
    expect((await states()).quinn).toEqual({ userId: 'quinn', online: false, lastSeenAt: null });
    expect((await states()).pia).toMatchObject({ online: true });

    const phone = await connect(quinn);
    const online = await watcher.waitFor((f) => f.type === 'presence' && f.userId === 'quinn');
    expect(online).toEqual({
      type: 'presence',
      userId: 'quinn',
      online: true,
      at: new Date(clock.now()).toISOString(),
    });
    expect(online.cursor).toBeUndefined();
    expect((await states(app.api)).quinn).toMatchObject({ online: true });
    // quinn is not told of his own session.
    expect(presenceOf(phone, 'quinn')).toEqual([]);

    // A second device: no frame. Closing one of two: no frame.
    const laptop = await connect(quinn);
    await connect(ray);
    await laptop.close();
    clock.advance(5_000);
    await phone.close();
    await watcher.waitFor((f) => f.type === 'presence' && f.userId === 'quinn' && !f.online);
    expect(presenceOf(watcher, 'quinn').map((f) => f.online)).toEqual([true, false]);
    expect(presenceOf(watcher, 'ray')).toEqual([]);
    expect((await states()).quinn).toEqual({
      userId: 'quinn',
      online: false,
      lastSeenAt: new Date(clock.now()).toISOString(),
    });
  });

  it('an SSE session counts as online and receives presence events', async () => {
    const sam = await app.user('sam');
    const tia = await app.user('tia');
    const conv = await app.group(['sam', 'tia']);
    const stream = await openSse(sam.token);
    expect((await tia.get(`/v1/conversations/${conv}/presence`)).body.items).toContainEqual(
      expect.objectContaining({ userId: 'sam', online: true }),
    );
    const t = await connect(tia);
    await waitFor(() => stream.messages.some((m) => m.event === 'presence'));
    expect(stream.messages.find((m) => m.event === 'presence')!.data).toMatchObject({
      type: 'presence',
      userId: 'tia',
      online: true,
    });
    stream.close();
    await t.waitFor((f) => f.type === 'presence' && f.userId === 'sam' && f.online === false);
  });

  it('a waiting long-poll counts in the connection limit but does not make its user online', async () => {
    const vic = await app.user('vic');
    const wes = await app.user('wes');
    const conv = await app.group(['vic', 'wes']);
    const w = await connect(wes);
    const { cursor } = (await vic.get('/v1/sync')).body;
    const abort = new AbortController();
    const poll = fetch(`${server.url}/v1/sync?cursor=${encodeURIComponent(cursor)}&timeoutMs=30000`, {
      headers: { authorization: `Bearer ${vic.token}` },
      signal: abort.signal,
    }).catch(() => undefined);
    // The poll is waiting once it holds one of vic's connections (the limit's metric counts it).
    const admin = client(server.url, adminToken);
    await waitFor(async () =>
      /oncely_connections\{transport="longpoll"\} [1-9]/.test((await admin.get<string>('/metrics')).body),
    );
    expect((await wes.get(`/v1/conversations/${conv}/presence`)).body.items).toContainEqual({
      userId: 'vic',
      online: false,
      lastSeenAt: null,
    });
    abort.abort();
    await poll;
    // A session opened after it is the one wes hears of.
    await connect(vic);
    await w.waitFor((f) => f.type === 'presence' && f.userId === 'vic');
    expect(presenceOf(w, 'vic').map((f) => f.online)).toEqual([true]);
  });

  it("a non-member may not read a conversation's presence", async () => {
    const outsider = await app.user('uma');
    const conv = await app.group(['sam', 'tia']);
    const res = await outsider.get(`/v1/conversations/${conv}/presence`);
    expect(res.status).toBe(403);
    expect(res.body.error.code).toBe('not_member');
  });
});
