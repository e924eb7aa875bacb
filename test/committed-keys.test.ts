// Retries of keys an instance committed itself are answered from its memory (Ingest.committedKey), without a
// statement or a group commit; every answer must be the one the store gives. Two instances share one
// database and one clock: a retry on the instance that committed the key is answered from memory, the same
// retry on the other by the store, and both must be identical — until the record expires, when the key is
// new again on both.
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../src/clock.js';
import {
  client,
  createApp,
  startServer,
  tempDir,
  text,
  type ApiResponse,
  type TestApp,
  type TestServer,
  waitFor,
} from './harness.js';
import { TestSocket } from './realtime-socket.js';

const ttlSeconds = 60;
const clock = new ManualClock();
const dir = tempDir('oncely-committed-keys-');
let one: TestServer;
let two: TestServer;
let app: TestApp;
let conv: string;

beforeAll(async () => {
  const env = { ONCELY_IDEMPOTENCY_TTL_SECONDS: String(ttlSeconds) };
  one = await startServer(env, { clock, dir });
  two = await startServer(env, { clock, dir });
  app = await createApp(one.url);
  conv = await app.group(['alice', 'bob']);
});
afterAll(async () => {
  await one?.stop();
  await two?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** Group commits an instance has written: a send answered from memory writes none. */
async function groupCommits(server: TestServer): Promise<number> {
  const metric = await server.oncely.services.metrics.groupCommitSize.get();
  return metric.values.find((v) => v.metricName === 'oncely_group_commit_size_count')?.value ?? 0;
}

const on = (server: TestServer) => client(server.url, app.apiKey);
const send = (server: TestServer, key: string, t = 'hello') =>
  on(server).post(
    `/v1/conversations/${conv}/messages`,
    { from: 'alice', body: text(t) },
    { 'idempotency-key': key },
  );

/** What a client can see of an answer. */
const seen = (r: ApiResponse) => ({
  status: r.status,
  replayed: r.headers.get('idempotent-replayed'),
  type: r.headers.get('content-type'),
  body: r.body as unknown,
});

/** The same request on the committing instance (memory, no group commit) and on the other (the store). */
async function bothWays(request: (server: TestServer) => Promise<ApiResponse>) {
  const before = await groupCommits(one);
  const fromMemory = await request(one);
  expect(await groupCommits(one)).toBe(before);
  const fromStore = await request(two);
  expect(seen(fromMemory)).toEqual(seen(fromStore));
  return fromMemory;
}

describe('retries of keys this instance committed', () => {
  it('a REST retry answers 200 Idempotent-Replayed, identical to the store’s answer', async () => {
    const first = await send(one, 'rest-1');
    expect(first.status).toBe(201);
    expect(
      one.oncely.services.ingest.committedKey({ appId: app.appId, scope: 'app', key: 'rest-1' }),
    ).toBeDefined();
    expect(
      two.oncely.services.ingest.committedKey({ appId: app.appId, scope: 'app', key: 'rest-1' }),
    ).toBeUndefined();
    const again = await bothWays((s) => send(s, 'rest-1'));
    expect(again.status).toBe(200);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.body).toEqual(first.body);
  });

  it('a key reused with another body is 422 idempotency_key_reused, identical to the store’s answer', async () => {
    expect((await send(one, 'rest-2', 'first')).status).toBe(201);
    const reused = await bothWays((s) => send(s, 'rest-2', 'other'));
    expect(reused.status).toBe(422);
    expect(reused.body.error.code).toBe('idempotency_key_reused');
    // Keys are per app: another app's same key is a new message.
    const other = await createApp(one.url, 'other');
    const otherConv = await other.group(['alice', 'bob']);
    const res = await other.api.post(
      `/v1/conversations/${otherConv}/messages`,
      { from: 'alice', body: text('other') },
      { 'idempotency-key': 'rest-2' },
    );
    expect(res.status).toBe(201);
  });

  it('a repeat is answered even after its sender left the conversation, as the store answers it', async () => {
    const group = await app.group(['carol', 'dave']);
    const post = (server: TestServer) =>
      on(server).post(
        `/v1/conversations/${group}/messages`,
        { from: 'carol', body: text('bye') },
        {
          'idempotency-key': 'left-1',
        },
      );
    const first = await post(one);
    expect(first.status).toBe(201);
    expect((await app.api.delete(`/v1/conversations/${group}/members/carol`)).status).toBeLessThan(300);
    const again = await bothWays(post);
    expect(again.status).toBe(200);
    expect(again.body).toEqual(first.body);
    // A new key from her is refused as before.
    const refused = await on(one).post(`/v1/conversations/${group}/messages`, {
      from: 'carol',
      body: text('x'),
    });
    expect(refused.body.error.code).toBe('not_member');
  });

  it('WebSocket retries of a clientMsgId (the user’s scope) answer as the store does', async () => {
    const alice = await app.user('alice');
    const sockets = [
      await TestSocket.connect(one.url, alice.token),
      await TestSocket.connect(two.url, alice.token),
    ];
    try {
      const [onOne, onTwo] = sockets as [TestSocket, TestSocket];
      const answers = (socket: TestSocket) =>
        socket.frames.filter((f) => ['sent', 'error'].includes(f.type) && f.clientMsgId === 'ws-1');
      const sendOn = async (socket: TestSocket, t: string) => {
        const n = answers(socket).length;
        socket.send({ type: 'send', clientMsgId: 'ws-1', conversationId: conv, body: text(t) });
        await waitFor(() => answers(socket).length > n);
        return answers(socket)[n]!;
      };
      const first = await sendOn(onOne, 'via ws');
      expect(first).toMatchObject({ type: 'sent', duplicate: false });
      const before = await groupCommits(one);
      const fromMemory = await sendOn(onOne, 'via ws');
      expect(await groupCommits(one)).toBe(before);
      expect(fromMemory).toEqual({ ...first, duplicate: true });
      expect(await sendOn(onTwo, 'via ws')).toEqual(fromMemory);
      // The same clientMsgId over REST by the user is the same key.
      const rest = await alice.post(`/v1/conversations/${conv}/messages`, {
        body: text('via ws'),
        clientMsgId: 'ws-1',
      });
      expect([rest.status, rest.body.id]).toEqual([200, first.id]);
      const reused = await sendOn(onOne, 'changed');
      expect(reused).toMatchObject({ type: 'error', code: 'idempotency_key_reused' });
      expect(await sendOn(onTwo, 'changed')).toEqual(reused);
    } finally {
      for (const s of sockets) await s.close();
    }
  });

  it('batch items repeating keys (a list looks them up in the store) are answered alike on both', async () => {
    const batch = (server: TestServer, items: unknown[]) => on(server).post('/v1/messages/batch', { items });
    const item = (key: string, t: string) => ({
      idempotencyKey: key,
      from: 'bob',
      conversationId: conv,
      body: text(t),
    });
    const first = await batch(one, [item('b-1', 'one'), item('b-2', 'two')]);
    expect(first.body.results.map((r: { status: string }) => r.status)).toEqual(['created', 'created']);
    // b-1 repeated, b-2 reused, and rest-1 (a REST send's key, the same app scope) reused by an item.
    const again = await bothWays((s) =>
      batch(s, [item('b-1', 'one'), item('b-2', 'changed'), item('rest-1', 'hello')]),
    );
    expect(again.body.results[0]).toEqual({
      ...first.body.results[0],
      status: 'duplicate',
      isIdempotent: true,
    });
    expect(again.body.results.slice(1).map((r: { error: { code: string } }) => r.error.code)).toEqual([
      'idempotency_key_reused',
      'idempotency_key_reused',
    ]);
  });

  it('a key is new again once its record expires, on both instances', async () => {
    const first = await send(one, 'exp-1');
    expect(first.status).toBe(201);
    clock.advance((ttlSeconds - 1) * 1000);
    expect((await bothWays((s) => send(s, 'exp-1'))).status).toBe(200);
    clock.advance(1000);
    // Expired at this very instant: memory must not answer it, and the key makes a new message.
    expect(
      one.oncely.services.ingest.committedKey({ appId: app.appId, scope: 'app', key: 'exp-1' }),
    ).toBeUndefined();
    const renewed = await send(one, 'exp-1', 'a new request');
    expect(renewed.status).toBe(201);
    expect(renewed.body.id).not.toBe(first.body.id);
    const again = await bothWays((s) => send(s, 'exp-1', 'a new request'));
    expect([again.status, again.body.id]).toEqual([200, renewed.body.id]);
    // Swept or not, an expired record answers nothing.
    clock.advance(ttlSeconds * 1000);
    await one.oncely.services.sweeper.sweep();
    const after = await send(one, 'exp-1', 'yet another');
    expect(after.status).toBe(201);
  });
});
