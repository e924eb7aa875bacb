// Several instances as one, with real processes: A1 and A2 are `oncely serve` processes (so each can be killed
// with SIGKILL), B and C run in this process; all four share one PostgreSQL and one Redis. A duplicate storm
// spread over them makes one message; A1 killed under retrying load that fails over to the others loses no
// acknowledged message and doubles none, seqs gapless (rows counted); the client library behind a balancer,
// on A2 when A2 is killed, resumes on another instance without loss. Postgres project only.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import {
  OncelyClient,
  type ClientState,
  type WebSocketConstructor,
  type WireEvent,
} from '../../client/index.js';
import { redisBinary, startRedis, type TestBroker } from '../brokers.js';
import {
  client,
  createApp,
  dropDatabase,
  freePort,
  spawnServer,
  startServer,
  tempDir,
  text,
  waitFor,
  type ServerProcess,
  type TestApp,
  type TestServer,
} from '../harness.js';
import { TestSocket } from '../realtime-socket.js';
import { startTcpBalancer, type TcpBalancer } from '../tcp-balancer.js';
import { databaseUrl } from '../test-store.js';

const haveRedis = redisBinary() !== undefined;
const dir = tempDir('oncely-instances-chaos-');
let redis: TestBroker;
let a1: ServerProcess;
let a2: ServerProcess;
let b: TestServer;
let c: TestServer;
let app: TestApp;
const sockets: TestSocket[] = [];

beforeAll(async () => {
  if (!haveRedis) return;
  redis = await startRedis();
  const env = { ONCELY_DATABASE_URL: await databaseUrl(dir), ONCELY_REDIS_URL: redis.url };
  // A1 first: it migrates the database the others then find ready.
  a1 = await spawnServer(dir, await freePort(), env);
  [a2, b, c] = await Promise.all([
    freePort().then((port) => spawnServer(dir, port, env)),
    startServer(env),
    startServer(env),
  ]);
  app = await createApp(b.url, 'chaos');
}, 240_000);
afterAll(async () => {
  for (const s of sockets) s.ws.terminate();
  await Promise.all([a1?.kill('SIGKILL'), a2?.kill('SIGKILL')]);
  await Promise.all([b?.stop(), c?.stop()]);
  await redis?.destroy();
  await dropDatabase(dir);
});

/** Every message of a conversation, by the app, oldest first: the rows as stored. */
async function storedMessages(conv: string): Promise<Array<{ seq: number; id: string; text: string }>> {
  const rows: Array<{ seq: number; id: string; text: string }> = [];
  for (let after = 0; ;) {
    const page = await app.api.get(`/v1/conversations/${conv}/messages?after=${after}&limit=1000`);
    expect(page.status).toBe(200);
    for (const e of page.body.items as Array<{
      seq: number;
      id: string;
      type: string;
      body: { text: string };
    }>)
      if (e.type === 'message.created') rows.push({ seq: e.seq, id: e.id, text: e.body.text });
    if (!page.body.hasMore) break;
    after = page.body.items.at(-1).seq;
  }
  return rows;
}

describe.skipIf(!haveRedis)('several instances with real processes', () => {
  it('a duplicate storm spread over the instances makes one message, heard once on every instance', async () => {
    const [alice] = [await app.user('alice'), await app.user('bob')];
    const conv = await app.group(['alice', 'bob']);
    const urls = [a1.url, a2.url, b.url, c.url];
    const bobs = await Promise.all(
      urls.map(async (url) => TestSocket.connect(url, (await app.user('bob')).token)),
    );
    sockets.push(...bobs);
    // The same clientMsgId over REST on every instance and over WebSockets on each: one key in alice's scope.
    const rest = urls.flatMap((url) =>
      Array.from({ length: 6 }, () =>
        client(url, alice.token).post(`/v1/conversations/${conv}/messages`, {
          body: text('storm'),
          clientMsgId: 'storm-1',
        }),
      ),
    );
    const senders = await Promise.all(urls.map((url) => TestSocket.connect(url, alice.token)));
    sockets.push(...senders);
    for (const s of senders)
      for (let i = 0; i < 3; i++)
        s.send({ type: 'send', clientMsgId: 'storm-1', conversationId: conv, body: text('storm') });
    const answers = await Promise.all(rest);
    expect(answers.every((r) => r.status === 201 || r.status === 200)).toBe(true);
    expect(answers.filter((r) => r.status === 201)).toHaveLength(1);
    const ids = new Set(answers.map((r) => r.body.id as string));
    for (const s of senders) {
      await waitFor(() => s.frames.filter((f) => f.type === 'sent').length === 3);
      for (const f of s.frames.filter((f) => f.type === 'sent')) ids.add(f.id as string);
    }
    expect(ids.size).toBe(1);
    expect(await storedMessages(conv)).toHaveLength(1);
    // Every instance delivers it once; a later message shows nothing more was on its way.
    expect(
      (await app.api.post(`/v1/conversations/${conv}/messages`, { from: 'alice', body: text('after') }))
        .status,
    ).toBe(201);
    for (const bob of bobs) {
      await bob.waitFor((f) => f.type === 'event' && f.event.body?.text === 'after');
      expect(
        bob
          .events()
          .filter((f) => f.event.conversationId === conv)
          .map((f) => f.event.body.text),
      ).toEqual(['storm', 'after']);
    }
  });

  it('A1 killed with SIGKILL under load that fails over: no acknowledged message lost or doubled, seqs gapless', async () => {
    await app.user('carol');
    await app.user('dan');
    const conv = await app.group(['carol', 'dan']);
    const dan = await app.user('dan');
    const onC = await TestSocket.connect(c.url, dan.token);
    sockets.push(onC);
    const instances = [a1.url, b.url, c.url];
    const acked = new Map<string, { id: string; seq: number }>();
    let failedAttempts = 0;
    let stopping = false;

    /** One key until some instance acknowledges it: each failed attempt goes to the next instance. */
    async function sendUntilAcked(key: string, first: number): Promise<void> {
      for (let attempt = first; ; attempt++) {
        const api = client(instances[attempt % instances.length]!, app.apiKey);
        const res = await api
          .post(
            `/v1/conversations/${conv}/messages`,
            { from: 'carol', body: text(key) },
            { 'idempotency-key': key },
          )
          .catch(() => undefined);
        if (res && (res.status === 201 || res.status === 200)) {
          const prior = acked.get(key);
          if (prior) expect(res.body.id).toBe(prior.id);
          acked.set(key, { id: res.body.id, seq: res.body.seq });
          return;
        }
        if (res && res.status < 500) throw new Error(`unexpected ${res.status}: ${JSON.stringify(res.body)}`);
        failedAttempts++;
      }
    }
    const load = Array.from({ length: 6 }, async (_, w) => {
      for (let n = 0; !stopping; n++) await sendUntilAcked(`w${w}-${n}`, w + n);
    });
    await waitFor(() => acked.size >= 120, 60_000, 10);
    await a1.kill('SIGKILL');
    const target = acked.size + 120;
    await waitFor(() => acked.size >= target, 60_000, 10);
    stopping = true;
    await Promise.all(load);
    // The kill really cut sends in flight or refused them: they were retried elsewhere.
    expect(failedAttempts).toBeGreaterThan(0);

    const rows = await storedMessages(conv);
    const byText = new Map<string, number>();
    for (const r of rows) byText.set(r.text, (byText.get(r.text) ?? 0) + 1);
    expect([...byText].filter(([, n]) => n > 1)).toEqual([]);
    expect([...acked.keys()].filter((k) => !byText.has(k))).toEqual([]);
    expect(rows).toHaveLength(acked.size);
    expect(rows.map((r) => r.seq)).toEqual(Array.from({ length: rows.length }, (_, i) => i + 1));
    for (const r of rows) expect(acked.get(r.text)).toEqual({ id: r.id, seq: r.seq });
    // A device on C heard every one of them once, in seq order, across the kill.
    await onC.waitForEvents(rows.length, 30_000);
    const heard = onC
      .events()
      .filter((f) => f.event.conversationId === conv && f.event.type === 'message.created');
    expect(heard.map((f) => f.event.seq)).toEqual(rows.map((r) => r.seq));
    console.info(`failover: ${acked.size} messages, ${failedAttempts} failed attempts retried elsewhere`);
  }, 180_000);

  it('the client library behind a balancer, on A2 when A2 dies, resumes on another instance without loss', async () => {
    await app.user('erin');
    const conv = await app.group(['erin', 'fay']);
    const erin = await app.user('erin');
    const balancer: TcpBalancer = await startTcpBalancer([a2.url, b.url]);
    let saved: ClientState | undefined;
    const device = new OncelyClient({
      url: balancer.url,
      token: erin.token,
      WebSocket: WebSocket as unknown as WebSocketConstructor,
      transport: 'websocket',
      backoff: { initialMs: 50, maxMs: 400 },
      stateStore: { load: () => saved, save: (s) => void (saved = s) },
    });
    const events: WireEvent[] = [];
    device.on('event', (e) => events.push(e));
    try {
      await device.connect();
      await waitFor(() => device.state.status === 'open');
      expect(balancer.connections.get(a2.url)).toBeGreaterThan(0);
      const onC = client(c.url, app.apiKey);
      const send = async (name: string) =>
        expect(
          (await onC.post(`/v1/conversations/${conv}/messages`, { from: 'fay', body: text(name) })).status,
        ).toBe(201);
      for (let i = 0; i < 20; i++) await send(`m${i}`);
      await waitFor(() => events.length >= 20);
      const sentByDevice: Array<Promise<{ id: string }>> = [];
      await a2.kill('SIGKILL');
      // Sent while the device is between instances: by others, and by the device itself (queued, then sent).
      for (let i = 20; i < 40; i++) await send(`m${i}`);
      for (let i = 0; i < 5; i++)
        sentByDevice.push(device.send(conv, { type: 'text', text: `own${i}` }, { clientMsgId: `own-${i}` }));
      await waitFor(
        () => device.state.status === 'open' && (balancer.connections.get(b.url) ?? 0) > 0,
        30_000,
      );
      for (let i = 40; i < 60; i++) await send(`m${i}`);
      const own = await Promise.all(sentByDevice);
      expect(new Set(own.map((o) => o.id)).size).toBe(5);
      await waitFor(() => events.filter((e) => e.type === 'message.created').length >= 65, 30_000);
      const texts = events
        .filter((e) => e.type === 'message.created')
        .map((e) => (e.body as { text: string }).text);
      expect(texts.filter((t) => t.startsWith('m'))).toEqual(Array.from({ length: 60 }, (_, i) => `m${i}`));
      expect(texts.filter((t) => t.startsWith('own')).sort()).toEqual([
        'own0',
        'own1',
        'own2',
        'own3',
        'own4',
      ]);
      const seqs = events.filter((e) => e.type === 'message.created').map((e) => e.seq);
      expect(seqs).toEqual(Array.from({ length: 65 }, (_, i) => i + 1));
      expect(await storedMessages(conv)).toHaveLength(65);
    } finally {
      await device.close();
      await balancer.close();
    }
  }, 120_000);
});
