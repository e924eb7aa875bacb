// Catch-ups that page through a user's stream across many conversations (long-poll cursors, WebSocket and
// SSE resume): every event once, in commit order, each membership's span respected; and the conversation
// list's unread counts against a count made from history.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  adminToken,
  client,
  createApp,
  startServer,
  text,
  type TestApp,
  type TestServer,
} from './harness.js';
import { TestSocket } from './realtime-socket.js';

let server: TestServer;
let app: TestApp;
const sockets: TestSocket[] = [];

beforeAll(async () => {
  server = await startServer();
  app = await createApp(server.url);
});
afterAll(async () => {
  for (const s of sockets) s.ws.terminate();
  await server.stop();
});

interface SyncPage {
  events: Array<{ id: string; conversationId: string; seq: number; type: string; userId?: string }>;
  cursor: string;
}

/** Pages `GET /v1/sync` with the returned cursors until a page comes back empty. */
async function catchUp(
  user: { get: (p: string) => Promise<{ status: number; body: SyncPage }> },
  cursor: string,
) {
  const events: SyncPage['events'] = [];
  const sizes: number[] = [];
  for (let page = 0; page < 100; page++) {
    const res = await user.get(`/v1/sync?cursor=${cursor}&timeoutMs=0`);
    expect(res.status).toBe(200);
    sizes.push(res.body.events.length);
    events.push(...res.body.events);
    cursor = res.body.cursor;
    if (res.body.events.length === 0) return { events, sizes, cursor };
  }
  throw new Error('the catch-up never ended');
}

/** Sends through the batch API, `perBatch` items a request, in the given order; returns the ids in order. */
async function sendAll(items: Array<{ from: string; conversationId: string }>, perBatch = 400) {
  const ids: string[] = [];
  for (let i = 0; i < items.length; i += perBatch) {
    const res = await app.api.post('/v1/messages/batch', {
      items: items.slice(i, i + perBatch).map((it, k) => ({
        idempotencyKey: `${it.conversationId}-${i + k}`,
        from: it.from,
        conversationId: it.conversationId,
        body: text(`m${i + k}`),
      })),
    });
    expect(res.status).toBe(200);
    for (const r of res.body.results) {
      expect(r.status).toBe('created');
      ids.push(r.messageId);
    }
  }
  return ids;
}

describe('catch-up across many conversations', () => {
  it('long-poll pages, WebSocket and SSE resume give every event once, in commit order, skipping other groups', async () => {
    const alice = await app.user('alice');
    const mine = await Promise.all(Array.from({ length: 30 }, (_, i) => app.group(['alice', `p${i % 5}`])));
    const others = await Promise.all(Array.from({ length: 10 }, (_, i) => app.group([`q${i}`, `q${i + 1}`])));
    const start = (await alice.get('/v1/sync')).body.cursor as string;
    // Commit order is send order; alice's conversations and the others interleave unevenly.
    const plan = Array.from({ length: 3300 }, (_, i) => {
      const busy = i % 3 === 0;
      const conversationId = busy ? others[i % others.length]! : mine[(i * i) % (i % 7 === 0 ? 3 : 30)]!;
      return { conversationId, from: busy ? `q${i % 10}` : `p${mine.indexOf(conversationId) % 5}` };
    });
    const ids = await sendAll(plan);
    const expected = ids.filter((_, i) => mine.includes(plan[i]!.conversationId));

    const polled = await catchUp(alice, start);
    expect(polled.events.map((e) => e.id)).toEqual(expected);
    // Pages (of 2,000 events; these bodies are far below the page's character budget) are full until the
    // last: a short page means caught up.
    const n = expected.length;
    expect(polled.sizes).toEqual([
      ...Array<number>(Math.floor(n / 2000)).fill(2000),
      ...(n % 2000 ? [n % 2000] : []),
      0,
    ]);

    const socket = await TestSocket.connect(server.url, alice.token, start);
    sockets.push(socket);
    const frames = await socket.waitForEvents(expected.length);
    expect(frames.map((f) => f.event.id)).toEqual(expected);

    // Resuming from the middle gives exactly the rest.
    const middle = frames[700]!.cursor as string;
    const rest = await catchUp(alice, middle);
    expect(rest.events.map((e) => e.id)).toEqual(expected.slice(701));

    const sse = await fetch(`${server.url}/v1/events?cursor=${middle}`, {
      headers: { authorization: `Bearer ${alice.token}` },
    });
    const seen = await readSseEvents(sse, expected.length - 701);
    expect(seen).toEqual(expected.slice(701));
  });

  it("a removed member's catch-up ends at his removal and continues from his re-adding", async () => {
    const bob = await app.user('bob');
    const group = await app.group(['bob', 'carl']);
    const carl = await app.user('carl');
    const start = (await bob.get('/v1/sync')).body.cursor as string;
    const say = async (t: string) =>
      (await carl.post(`/v1/conversations/${group}/messages`, { body: text(t) })).body.id as string;
    const before = [await say('one'), await say('two')];
    await app.api.delete(`/v1/conversations/${group}/members/bob`);
    await say('while away 1');
    await say('while away 2');
    const shown = (e: SyncPage['events'][number]) =>
      e.type === 'message.created' ? e.id : `${e.type}:${e.userId}`;

    const away = await catchUp(bob, start);
    expect(away.events.map(shown)).toEqual([...before, 'member.removed:bob']);
    const socket = await TestSocket.connect(server.url, bob.token, start);
    sockets.push(socket);
    const frames = await socket.waitForEvents(3);
    expect(frames.map((f) => f.event.seq)).toEqual(away.events.map((e) => e.seq));

    await app.api.post(`/v1/conversations/${group}/members`, { userIds: ['bob'] });
    const after = await say('back');
    const back = await catchUp(bob, away.cursor);
    expect(back.events.map(shown)).toEqual(['member.added:bob', after]);
  });
});

/** The ids of the first `n` events of an SSE response. */
async function readSseEvents(res: Response, n: number): Promise<string[]> {
  const ids: string[] = [];
  const decoder = new TextDecoder();
  let buffered = '';
  const reader = res.body!.getReader();
  while (ids.length < n) {
    const { value, done } = await reader.read();
    if (done) break;
    buffered += decoder.decode(value, { stream: true });
    let end: number;
    while ((end = buffered.indexOf('\n\n')) >= 0) {
      const block = buffered.slice(0, end);
      buffered = buffered.slice(end + 2);
      const data = block.split('\n').find((l) => l.startsWith('data: '));
      const frame = data ? JSON.parse(data.slice(6)) : undefined;
      if (frame?.type === 'event') ids.push(frame.event.id);
    }
  }
  await reader.cancel();
  return ids;
}

describe('unread counts', () => {
  /** A member's unread counted the slow way: her conversation's history after her read marker. */
  async function countedFromHistory(conversationId: string, userId: string, readSeq: number) {
    const items = (
      await app.api.get(`/v1/conversations/${conversationId}/messages?after=${readSeq}&limit=1000`)
    ).body.items as Array<{ type: string; senderId: string; recalled?: boolean }>;
    return items.filter((e) => e.type === 'message.created' && !e.recalled && e.senderId !== userId).length;
  }

  it('exclude her own and recalled messages and membership events, whatever she has read', async () => {
    const dora = await app.user('dora');
    const emil = await app.user('emil');
    const finn = await app.user('finn');
    const group = await app.group(['dora', 'emil']);
    const send = async (u: typeof dora, t: string) =>
      (await u.post(`/v1/conversations/${group}/messages`, { body: text(t) })).body as {
        id: string;
        seq: number;
      };
    const sent: Array<{ id: string; seq: number }> = [];
    for (let i = 0; i < 12; i++) sent.push(await send(i % 3 === 0 ? dora : emil, `m${i}`));
    await app.api.post(`/v1/conversations/${group}/members`, { userIds: ['finn'] });
    for (let i = 0; i < 6; i++) sent.push(await send(i % 2 === 0 ? finn : emil, `n${i}`));
    // Recalls before and after the markers, of others' messages and of her own.
    for (const k of [1, 3, 7, 14])
      expect((await app.api.post(`/v1/messages/${sent[k]!.id}/recall`)).status).toBe(200);
    await app.api.delete(`/v1/conversations/${group}/members/finn`);
    await app.api.post(`/v1/conversations/${group}/members`, { userIds: ['finn'] });
    await send(emil, 'last');

    for (const marker of [0, 2, 5, 9, 13, 17]) {
      if (marker > 0) await dora.post(`/v1/conversations/${group}/receipts`, { readSeq: marker });
      for (const u of [dora, emil, finn]) {
        const list = (await u.get('/v1/me/conversations')).body.items as Array<{
          id: string;
          readSeq: number;
          unread: number;
        }>;
        const item = list.find((c) => c.id === group)!;
        expect(item.unread, `${u.userId} at readSeq ${item.readSeq}`).toBe(
          await countedFromHistory(group, u.userId, item.readSeq),
        );
      }
    }
  });
});

describe('event-loop delay', () => {
  it('is exposed as a histogram on /metrics', async () => {
    const metrics = (await client(server.url, adminToken).get<string>('/metrics')).body;
    expect(metrics).toMatch(/^oncely_event_loop_delay_seconds_bucket\{le="0\.02"\} \d+$/m);
    expect(Number(/^oncely_event_loop_delay_seconds_count (\d+)$/m.exec(metrics)?.[1])).toBeGreaterThan(0);
  });
});
