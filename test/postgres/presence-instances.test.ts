// Presence and typing across three instances on one PostgreSQL and one Redis: A is a separate `oncely serve`
// process (so it can be killed with SIGKILL), B and C run in this process. A user connected to A is online
// for a member asking B, the frames reach a member on C; typing crosses too, and not to a non-member. A is
// then killed: its user goes offline, as seen from B and C, within two heartbeats. Postgres project only.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisBinary, startRedis, type TestBroker } from '../brokers.js';
import {
  createApp,
  dropDatabase,
  freePort,
  spawnServer,
  startServer,
  tempDir,
  type ServerProcess,
  type TestServer,
} from '../harness.js';
import { TestSocket } from '../realtime-socket.js';
import { databaseUrl } from '../test-store.js';

const haveRedis = redisBinary() !== undefined;
const dir = tempDir('oncely-presence-instances-');
/** Short enough for a test, long enough that timer slack on a busy machine is small beside it. */
const heartbeatMs = 2_000;
let redis: TestBroker;
let a: ServerProcess;
let b: TestServer;
let c: TestServer;

beforeAll(async () => {
  if (!haveRedis) return;
  redis = await startRedis();
  const env = {
    ONCELY_DATABASE_URL: await databaseUrl(dir),
    ONCELY_REDIS_URL: redis.url,
    ONCELY_WS_HEARTBEAT_MS: String(heartbeatMs),
  };
  // A first: it migrates the database the others then find ready.
  a = await spawnServer(dir, await freePort(), env);
  [b, c] = await Promise.all([startServer(env), startServer(env)]);
}, 180_000);
afterAll(async () => {
  await a?.kill('SIGKILL');
  await Promise.all([b?.stop(), c?.stop()]);
  await redis?.destroy();
  await dropDatabase(dir);
});

describe.skipIf(!haveRedis)('presence and typing across three instances', () => {
  it('online on A is seen from B and C; typing crosses; A killed with SIGKILL: offline within two heartbeats', async () => {
    const app = await createApp(b.url);
    const [alice, bob, carol] = [await app.user('alice'), await app.user('bob'), await app.user('carol')];
    const conv = await app.group(['alice', 'bob']);
    // carol shares no conversation with alice.
    await app.group(['bob', 'carol']);
    const presenceOnB = async () => {
      const res = await bob.get(`/v1/conversations/${conv}/presence`);
      expect(res.status).toBe(200);
      return res.body.items.find((i: { userId: string }) => i.userId === 'alice');
    };
    expect(await presenceOnB()).toEqual({ userId: 'alice', online: false, lastSeenAt: null });

    const bobOnC = await TestSocket.connect(c.url, bob.token);
    const carolOnB = await TestSocket.connect(b.url, carol.token);
    const aliceOnA = await TestSocket.connect(a.url, alice.token);
    const online = await bobOnC.waitFor((f) => f.type === 'presence' && f.userId === 'alice');
    expect(online).toMatchObject({ type: 'presence', userId: 'alice', online: true });
    expect((await presenceOnB()).online).toBe(true);

    aliceOnA.send({ type: 'typing', conversationId: conv });
    expect(await bobOnC.waitFor((f) => f.type === 'typing')).toEqual({
      type: 'typing',
      conversationId: conv,
      userId: 'alice',
    });
    // carol hears neither: a typing of bob's in their own conversation, heard after, shows alice's had its turn.
    const other = await app.group(['bob', 'carol']);
    bobOnC.send({ type: 'typing', conversationId: other });
    await carolOnB.waitFor((f) => f.type === 'typing' && f.conversationId === other);
    expect(carolOnB.frames.filter((f) => f.userId === 'alice')).toEqual([]);

    // Killed: no close reaches anyone; only the expiry of A's entries in Redis tells.
    const killedAt = Date.now();
    await a.kill('SIGKILL');
    const offline = await bobOnC.waitFor(
      (f) => f.type === 'presence' && f.userId === 'alice' && f.online === false,
      4 * heartbeatMs,
    );
    // Entries live 1.5 heartbeats past their last renewal (at most the kill) and reapers look every quarter.
    expect(Date.now() - killedAt).toBeLessThanOrEqual(2 * heartbeatMs);
    // `at` is when A last renewed alice's entry: before the kill, and at most a heartbeat before it.
    const lastSeen = Date.parse(offline.at as string);
    expect(lastSeen).toBeLessThanOrEqual(killedAt);
    expect((await presenceOnB()).online).toBe(false);
    expect((await presenceOnB()).lastSeenAt).toBe(offline.at);
    await Promise.all([bobOnC.close(), carolOnB.close()]);
  });
});
