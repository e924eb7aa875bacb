// Three oncely instances on one PostgreSQL database and one Redis, as behind a load balancer: a device on
// any of them hears what is sent through the others, in seq order, and a Redis outage loses and repeats
// nothing (sends still commit; delivery resumes when Redis is back). Runs in the postgres project only.
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisBinary, startRedis, type TestBroker } from '../brokers.js';
import {
  client,
  createApp,
  dropDatabase,
  startServer,
  tempDir,
  text,
  waitFor,
  type TestServer,
} from '../harness.js';
import { TestSocket } from '../realtime-socket.js';
import { databaseUrl } from '../test-store.js';

const haveRedis = redisBinary() !== undefined;
const dir = tempDir('oncely-redis-instances-');
let redis: TestBroker;
let servers: TestServer[] = [];

beforeAll(async () => {
  if (!haveRedis) return;
  redis = await startRedis();
  const env = {
    ONCELY_DATABASE_URL: await databaseUrl(dir),
    ONCELY_REDIS_URL: redis.url,
    ONCELY_MAX_CONNECTIONS_PER_USER: '2',
  };
  servers = await Promise.all([1, 2, 3].map(() => startServer(env)));
});
afterAll(async () => {
  await Promise.all(servers.map((s) => s.stop()));
  await redis?.destroy();
  await dropDatabase(dir);
});

const seqsOf = (socket: TestSocket, conversationId: string) =>
  socket
    .events()
    .filter((f) => f.event.conversationId === conversationId)
    .map((f) => f.event.seq as number);

describe.skipIf(!haveRedis)('three instances on one PostgreSQL and one Redis', () => {
  it('a device on A hears, in seq order and once each, what is sent through B and C', async () => {
    const [a, b, c] = servers as [TestServer, TestServer, TestServer];
    const app = await createApp(a.url);
    const conv = await app.group(['alice', 'bob', 'carol']);
    const alice = await app.user('alice');
    const socket = await TestSocket.connect(a.url, alice.token);
    const sends = Array.from({ length: 60 }, (_, i) =>
      client([b, c][i % 2]!.url, app.apiKey).post(
        `/v1/conversations/${conv}/messages`,
        { from: i % 2 ? 'bob' : 'carol', body: text(`m${i}`) },
        { 'idempotency-key': `k-${i}` },
      ),
    );
    expect((await Promise.all(sends)).map((r) => r.status)).toEqual(Array(60).fill(201));
    await waitFor(() => seqsOf(socket, conv).length >= 60);
    expect(seqsOf(socket, conv)).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
    await socket.close();
  });

  it("a batch's events leave its instance in one PUBLISH, in seq order; /readyz checks store and bus", async () => {
    const [a, b] = servers as [TestServer, TestServer, TestServer];
    for (const s of servers) {
      const ready = await client(s.url).get('/readyz');
      expect([ready.status, ready.body.checks]).toEqual([200, { store: 'ok', bus: 'ok' }]);
    }
    const app = await createApp(a.url);
    const conv = await app.group(['alice', 'bob']);
    const socket = await TestSocket.connect(a.url, (await app.user('alice')).token);
    // A listener on every channel: the envelopes that carry this conversation's events, as published.
    const listener = new Redis(redis.url);
    const envelopes: number[][] = [];
    listener.on('pmessage', (_pattern: string, _channel: string, raw: string) => {
      const { m } = JSON.parse(raw) as {
        m: Array<{ kind: string; event?: { conversationId: string; seq: number } }>;
      };
      const seqs = m.flatMap((x) =>
        x.kind === 'event' && x.event!.conversationId === conv ? [x.event!.seq] : [],
      );
      if (seqs.length > 0) envelopes.push(seqs);
    });
    await listener.psubscribe('*');
    try {
      const items = Array.from({ length: 30 }, (_, i) => ({
        idempotencyKey: `batch-${i}`,
        from: 'bob',
        conversationId: conv,
        body: text(`b${i}`),
      }));
      const res = await client(b.url, app.apiKey).post('/v1/messages/batch', { mode: 'atomic', items });
      expect(res.status).toBe(200);
      expect(res.body.results.every((r: { status: string }) => r.status === 'created')).toBe(true);
      const all = Array.from({ length: 30 }, (_, i) => i + 1);
      await waitFor(() => seqsOf(socket, conv).length >= 30);
      expect(seqsOf(socket, conv)).toEqual(all);
      await waitFor(() => envelopes.flat().length >= 30);
      expect(envelopes).toEqual([all]);
    } finally {
      listener.disconnect();
      await socket.close();
    }
  });

  it('a receipt made on C reaches a device on A (receipts travel only on the bus)', async () => {
    const [a, , c] = servers as [TestServer, TestServer, TestServer];
    const app = await createApp(a.url);
    const conv = await app.group(['alice', 'bob']);
    const alice = await app.user('alice');
    const bobOnC = client(c.url, (await app.user('bob')).token);
    const socket = await TestSocket.connect(a.url, alice.token);
    await app.api.post(`/v1/conversations/${conv}/messages`, { from: 'alice', body: text('hi') });
    await socket.waitForEvents(1);
    expect((await bobOnC.post(`/v1/conversations/${conv}/receipts`, { readSeq: 1 })).status).toBe(200);
    const receipt = await socket.waitFor((f) => f.type === 'receipt.updated');
    expect(receipt.receipt).toMatchObject({ conversationId: conv, userId: 'bob', readSeq: 1 });
    await socket.close();
  });

  it('the per-user connection limit holds across instances', async () => {
    const [a, b, c] = servers as [TestServer, TestServer, TestServer];
    const app = await createApp(a.url);
    const carol = await app.user('carol');
    const onA = await TestSocket.connect(a.url, carol.token);
    const onB = await TestSocket.connect(b.url, carol.token);
    const onC = await TestSocket.open(c.url, carol.token);
    expect(await onC.closed).toBe(4429);
    const sse = await fetch(`${c.url}/v1/events`, { headers: { authorization: `Bearer ${carol.token}` } });
    expect(sse.status).toBe(429);
    await onB.close();
    // B's place is free once its close is counted.
    await waitFor(async () => {
      const again = await TestSocket.open(c.url, carol.token);
      again.send({ type: 'ping' });
      const code = await Promise.race([
        again.closed,
        again
          .waitFor((f) => f.type === 'ready')
          .then(
            () => 0,
            () => -1,
          ),
      ]);
      if (code === 0) await again.close();
      return code === 0;
    });
    await onA.close();
  });

  it('Redis down: sends still commit, /readyz names the bus; Redis back: every device complete, nothing repeated', async () => {
    const [a, b, c] = servers as [TestServer, TestServer, TestServer];
    const app = await createApp(a.url);
    const conv = await app.group(['alice', 'bob']);
    const alice = await app.user('alice');
    const onA = await TestSocket.connect(a.url, alice.token);
    const onC = await TestSocket.connect(c.url, (await app.user('bob')).token);
    const send = (via: TestServer, i: number) =>
      client(via.url, app.apiKey).post(
        `/v1/conversations/${conv}/messages`,
        { from: 'alice', body: text(`m${i}`) },
        { 'idempotency-key': `k-${i}` },
      );
    for (let i = 1; i <= 10; i++) expect((await send(b, i)).status).toBe(201);

    await redis.stop();
    await waitFor(async () => (await client(a.url).get('/readyz')).status === 503);
    const down = await client(a.url).get('/readyz');
    expect(down.body.checks).toEqual({ store: 'ok', bus: 'unavailable' });
    // The store is the truth: sends commit and answer while the bus is away.
    for (let i = 11; i <= 30; i++) expect((await send(i % 2 ? b : c, i)).status).toBe(201);

    await redis.restart();
    await waitFor(async () => (await client(a.url).get('/readyz')).status === 200, 20_000);
    for (let i = 31; i <= 40; i++) expect((await send(b, i)).status).toBe(201);
    const all = Array.from({ length: 40 }, (_, i) => i + 1);
    for (const socket of [onA, onC]) {
      await waitFor(() => seqsOf(socket, conv).length >= 40, 20_000);
      expect(seqsOf(socket, conv)).toEqual(all);
    }
    await Promise.all([onA.close(), onC.close()]);
  });
});
