// Invariant 4 over time: a user reads a conversation only within the periods it was a member of it, the way
// its stream delivers it. History, a message by id, and a message's recipients follow the same periods.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { OncelyClient } from '../client/index.js';
import type { WebSocketConstructor } from '../client/client-options.js';
import type { WireEvent } from '../client/protocol.js';
import { createApp, startServer, text, waitFor, type TestApp, type TestServer } from './harness.js';
import { TestSocket } from './realtime-socket.js';

let server: TestServer;
let app: TestApp;
let conv: string;
const sent: Record<string, { id: string; seq: number }> = {};

async function send(from: string, name: string): Promise<void> {
  const res = await app.api.post(`/v1/conversations/${conv}/messages`, { from, body: text(name) });
  expect(res.status).toBe(201);
  sent[name] = res.body;
}

const texts = (items: Array<{ type: string; body: { text?: string } | null; userId?: string }>) =>
  items.map((e) => (e.type === 'message.created' ? e.body!.text! : `${e.type}:${e.userId}`));

beforeAll(async () => {
  server = await startServer();
  app = await createApp(server.url);
  conv = await app.group(['alice', 'bob', 'carol']);
  await app.api.put('/v1/users/dave', {});
  await send('alice', 'before');
  expect((await app.api.delete(`/v1/conversations/${conv}/members/bob`)).status).toBe(200);
  await send('alice', 'while-bob-out');
  expect((await app.api.post(`/v1/conversations/${conv}/members`, { userIds: ['bob', 'dave'] })).status).toBe(
    200,
  );
  await send('alice', 'after');
});
afterAll(() => server.stop());

describe('membership periods', () => {
  it("a re-added member's history skips what was sent while it was out, in every paging direction", async () => {
    const bob = await app.user('bob');
    const forward = await bob.get(`/v1/conversations/${conv}/messages`);
    expect(forward.status).toBe(200);
    const seen = ['before', 'member.removed:bob', 'member.added:bob', 'member.added:dave', 'after'];
    expect(texts(forward.body.items)).toEqual(seen);
    const backward = await bob.get(
      `/v1/conversations/${conv}/messages?before=${sent.after!.seq + 1}&limit=4`,
    );
    expect(texts(backward.body.items)).toEqual(seen.slice(1));
    expect(backward.body.hasMore).toBe(true);
    // One event at a time: the pages step over the hidden seq and end where the stream ends.
    const stepped: string[] = [];
    for (let after = 0; ;) {
      const page = await bob.get(`/v1/conversations/${conv}/messages?after=${after}&limit=1`);
      stepped.push(...texts(page.body.items));
      if (!page.body.hasMore) break;
      after = page.body.items[0].seq;
    }
    expect(stepped).toEqual(seen);
  });

  it('a member added later sees the conversation from its join, as its stream does', async () => {
    const dave = await app.user('dave');
    const history = await dave.get(`/v1/conversations/${conv}/messages`);
    expect(texts(history.body.items)).toEqual(['member.added:dave', 'after']);
    expect((await dave.get(`/v1/messages/${sent.before!.id}`)).status).toBe(404);
  });

  it('a message sent while a member was out is not found for it; the app and other members see everything', async () => {
    const bob = await app.user('bob');
    const hidden = await bob.get(`/v1/messages/${sent['while-bob-out']!.id}`);
    expect(hidden.status).toBe(404);
    expect(hidden.body.error.code).toBe('message_not_found');
    expect((await bob.get(`/v1/messages/${sent.before!.id}`)).status).toBe(200);
    const carol = await app.user('carol');
    expect((await carol.get(`/v1/messages/${sent['while-bob-out']!.id}`)).status).toBe(200);
    const all = await app.api.get(`/v1/conversations/${conv}/messages`);
    expect(texts(all.body.items)).toContain('while-bob-out');
  });

  it("a message's recipients are the members of its time, not today's", async () => {
    const status = async (name: string) =>
      (await app.api.get(`/v1/messages/${sent[name]!.id}`)).body as { recipients: number; readCount: number };
    // bob and carol (alice sent it); dave had not joined.
    expect((await status('before')).recipients).toBe(2);
    // carol only: bob was out, dave not yet in; the markers the re-added bob and dave start with count nothing.
    expect(await status('while-bob-out')).toMatchObject({ recipients: 1, readCount: 0 });
    expect((await status('after')).recipients).toBe(3);
  });

  it("the client library fills bob's gap across his absence without the hidden message, and settles", async () => {
    const bob = await app.user('bob');
    const events: WireEvent[] = [];
    // Starts with the history before the removal applied, so the re-add shows as a gap to fill.
    const client = new OncelyClient({
      url: server.url,
      token: bob.token,
      WebSocket: WebSocket as unknown as WebSocketConstructor,
      stateStore: { load: () => ({ seqs: { [conv]: sent.before!.seq } }), save: () => undefined },
    });
    client.on('event', (e) => events.push(e));
    await client.connect();
    await waitFor(() => client.state.status === 'open');
    await send('carol', 'live');
    await waitFor(() => events.some((e) => e.body && (e.body as { text?: string }).text === 'live')).catch(
      (err: Error) => {
        throw new Error(`${err.message}: ${JSON.stringify(texts(events as never))}`);
      },
    );
    expect(texts(events as never)).toEqual([
      'member.removed:bob',
      'member.added:bob',
      'member.added:dave',
      'after',
      'live',
    ]);
    client.close();
  });

  it("a stream resumed from a cursor taken before a removal and re-add has the first period's events", async () => {
    const bob = await app.user('bob');
    const group = await app.group(['alice', 'bob']);
    const cursor = (await bob.get('/v1/sync')).body.cursor as string;
    const post = async (name: string) =>
      expect(
        (await app.api.post(`/v1/conversations/${group}/messages`, { from: 'alice', body: text(name) }))
          .status,
      ).toBe(201);
    await post('first-period');
    expect((await app.api.delete(`/v1/conversations/${group}/members/bob`)).status).toBe(200);
    await post('while-out');
    expect((await app.api.post(`/v1/conversations/${group}/members`, { userIds: ['bob'] })).status).toBe(200);
    await post('second-period');
    const expected = ['first-period', 'member.removed:bob', 'member.added:bob', 'second-period'];
    const ofGroup = (events: WireEvent[]) => texts(events.filter((e) => e.conversationId === group) as never);

    const polled = await bob.get(`/v1/sync?cursor=${encodeURIComponent(cursor)}&timeoutMs=0`);
    expect(ofGroup(polled.body.events)).toEqual(expected);

    const socket = await TestSocket.connect(server.url, bob.token, cursor);
    await socket.waitFor((f) => f.type === 'event' && f.event.body?.text === 'second-period');
    expect(ofGroup(socket.frames.filter((f) => f.type === 'event').map((f) => f.event as WireEvent))).toEqual(
      expected,
    );
    socket.ws.close();
  });
});
