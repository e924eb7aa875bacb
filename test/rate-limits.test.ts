// Rate limits: requests per app and per user, and failed authentications per client address, answered
// `429 rate_limited` with Retry-After; with Redis every instance shares the counts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { redisBinary, startRedis, type TestBroker } from './brokers.js';
import { TestSocket } from './realtime-socket.js';
import {
  adminToken,
  client,
  createApp,
  databaseUrl,
  startServer,
  testStore,
  type ApiResponse,
  waitFor,
  type TestServer,
} from './harness.js';

const limits = (app: number, user: number, failures: number) => ({
  ONCELY_RATE_LIMIT_APP: String(app),
  ONCELY_RATE_LIMIT_USER: String(user),
  ONCELY_RATE_LIMIT_AUTH_FAILURES: String(failures),
  ONCELY_RATE_LIMIT_WINDOW_MS: '60000',
});

function expectLimited(res: ApiResponse): void {
  expect(res.status).toBe(429);
  expect(res.body.error.code).toBe('rate_limited');
  expect(Number(res.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
}

describe('rate limits on one instance', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startServer(limits(20, 10, 5));
  });
  afterAll(() => server.stop());

  it('an app key past its limit gets 429 rate_limited with Retry-After; another app is not held back', async () => {
    const a = await createApp(server.url, 'busy');
    const b = await createApp(server.url, 'quiet');
    const statuses: number[] = [];
    for (let i = 0; i < 25; i++) statuses.push((await a.api.put(`/v1/users/u${i}`, {})).status);
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThan(0);
    expect(statuses.slice(0, 19).every((s) => s === 200 || s === 201)).toBe(true);
    expectLimited(await a.api.put('/v1/users/late', {}));
    expect((await b.api.put('/v1/users/u0', {})).status).toBe(201);
  });

  it('a user past its limit gets 429 on every token it holds', async () => {
    const app = await createApp(server.url, 'users');
    const first = await app.user('alice');
    const second = client(
      server.url,
      (await app.api.post('/v1/users/alice/tokens', { ttlSeconds: 600 })).body.token as string,
    );
    for (let i = 0; i < 10; i++) expect((await first.get('/v1/me/conversations')).status).toBe(200);
    expectLimited(await first.get('/v1/me/conversations'));
    expectLimited(await second.get('/v1/me/conversations'));
    expect((await (await app.user('bob')).get('/v1/me/conversations')).status).toBe(200);
  });

  it('an address that failed authentication too often is refused, even with a valid token, before any check', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++)
      statuses.push((await client(server.url, `oky_wrong${i}`).get('/v1/me/conversations')).status);
    for (let i = 0; i < 2; i++)
      statuses.push((await client(server.url, `wrong-admin-token-${i}`).get('/v1/consumers')).status);
    expect(statuses).toEqual([401, 401, 401, 401, 401]);
    expectLimited(await client(server.url, 'oky_wrong-again').get('/v1/me/conversations'));
    expectLimited(await client(server.url, adminToken).get('/v1/consumers'));
  });
});

/** Opens an SSE stream with `?token=`; its status, and the stream ended at once. */
async function sseStatus(
  url: string,
  token: string,
): Promise<{ status: number; code?: string; retryAfter: number }> {
  const abort = new AbortController();
  const res = await fetch(`${url}/v1/events?token=${encodeURIComponent(token)}`, { signal: abort.signal });
  const body = res.status === 200 ? undefined : ((await res.json()) as { error: { code: string } });
  abort.abort();
  return { status: res.status, code: body?.error.code, retryAfter: Number(res.headers.get('retry-after')) };
}

/** Opens a WebSocket with `?token=`: the first frame, and the close code if the server closed it. */
async function wsOutcome(
  url: string,
  token: string,
): Promise<{ frame: string; close?: number; socket: TestSocket }> {
  const socket = await TestSocket.open(url, token);
  const frame = await socket.waitFor((f) => f.type === 'ready' || f.type === 'error');
  const name = frame.type === 'error' ? `error ${frame.code}` : 'ready';
  return { frame: name, socket, ...(frame.type === 'error' ? { close: await socket.closed } : {}) };
}

describe('realtime sessions count against the same limits', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startServer(limits(1000, 4, 3));
  });
  afterAll(() => server.stop());

  it('forged tokens on WebSocket upgrades and SSE ?token= are failed authentications of the address', async () => {
    const app = await createApp(server.url, 'forged');
    const alice = await app.user('alice');
    const forged = `${alice.token.slice(0, -4)}AAAA`;
    expect(await wsOutcome(server.url, forged)).toMatchObject({ frame: 'error invalid_token', close: 4401 });
    expect(await sseStatus(server.url, forged)).toMatchObject({ status: 401, code: 'invalid_token' });
    expect(await wsOutcome(server.url, forged)).toMatchObject({ frame: 'error invalid_token', close: 4401 });
    // The failure past the limit is answered 429, over the WebSocket as its refusal: close 4429.
    expect(await wsOutcome(server.url, forged)).toMatchObject({ frame: 'error rate_limited', close: 4429 });
    // Over the limit: refused before the token is read, on every path, even with a valid one.
    expect(await wsOutcome(server.url, alice.token)).toMatchObject({
      frame: 'error rate_limited',
      close: 4429,
    });
    const sse = await sseStatus(server.url, alice.token);
    expect(sse).toMatchObject({ status: 429, code: 'rate_limited' });
    expect(sse.retryAfter).toBeGreaterThanOrEqual(1);
    expectLimited(await alice.get('/v1/me/conversations'));
  });
});

describe('realtime sessions of a user count in its request limit', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startServer(limits(1000, 4, 100));
  });
  afterAll(() => server.stop());

  it('each new WebSocket or SSE session counts as a request of its user', async () => {
    const app = await createApp(server.url, 'sessions');
    const [bob, cy] = [await app.user('bob'), await app.user('cy')];
    expect((await bob.get('/v1/me/conversations')).status).toBe(200);
    expect((await bob.get('/v1/me/conversations')).status).toBe(200);
    const open = await wsOutcome(server.url, bob.token);
    expect(open.frame).toBe('ready');
    expect((await sseStatus(server.url, bob.token)).status).toBe(200);
    expectLimited(await bob.get('/v1/me/conversations'));
    expect(await wsOutcome(server.url, bob.token)).toMatchObject({
      frame: 'error rate_limited',
      close: 4429,
    });
    expect((await sseStatus(server.url, bob.token)).status).toBe(429);
    // The session already open goes on; another user is not held back.
    open.socket.send({ type: 'ping' });
    await open.socket.waitFor((f) => f.type === 'pong');
    expect((await wsOutcome(server.url, cy.token)).frame).toBe('ready');
  });
});

describe('connections per user', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startServer({ ONCELY_MAX_CONNECTIONS_PER_USER: '2' });
  });
  afterAll(() => server.stop());

  it('waiting long-polls count in the per-user connection limit', async () => {
    const app = await createApp(server.url, 'polls');
    const alice = await app.user('alice');
    const { cursor } = (await alice.get('/v1/sync')).body as { cursor: string };
    const poll = () => alice.get(`/v1/sync?cursor=${encodeURIComponent(cursor)}&timeoutMs=4000`);
    const waiting = [poll(), poll()];
    const admin = client(server.url, adminToken);
    await waitFor(async () =>
      /oncely_connections\{transport="longpoll"\} 2/.test((await admin.get<string>('/metrics')).body),
    );
    const third = await poll();
    expect(third.status).toBe(429);
    expect(third.body.error.code).toBe('too_many_connections');
    expect((await Promise.all(waiting)).map((r) => r.status)).toEqual([200, 200]);
    expect((await alice.get(`/v1/sync?cursor=${encodeURIComponent(cursor)}&timeoutMs=0`)).status).toBe(200);
  });
});

describe('admin token', () => {
  it('one shorter than 32 characters stops the start', () => {
    expect(() => loadConfig({ ONCELY_ADMIN_TOKEN: 'short-admin-token' })).toThrow(
      /ONCELY_ADMIN_TOKEN must be at least 32 characters/,
    );
  });
});

// Two instances need one database to share apps: PostgreSQL (Redis beside SQLite is for one instance only).
describe.runIf(testStore === 'postgres' && redisBinary() !== undefined)(
  'rate limits shared through Redis',
  () => {
    let redis: TestBroker;
    let a: TestServer;
    let b: TestServer;
    beforeAll(async () => {
      redis = await startRedis({ fsync: 'everysec' });
      a = await startServer({ ...limits(10, 1000, 4), ONCELY_REDIS_URL: redis.url });
      const shared = { ONCELY_DATABASE_URL: await databaseUrl(a.dir), ONCELY_REDIS_URL: redis.url };
      b = await startServer({ ...limits(10, 1000, 4), ...shared });
    });
    afterAll(async () => {
      await b?.stop();
      await a?.stop();
      await redis?.destroy();
    });

    it("an app's requests count on every instance", async () => {
      const app = await createApp(a.url, 'shared');
      const onB = client(b.url, app.apiKey);
      for (let i = 0; i < 5; i++) expect((await app.api.put(`/v1/users/a${i}`, {})).status).toBe(201);
      for (let i = 0; i < 5; i++) expect((await onB.put(`/v1/users/b${i}`, {})).status).toBe(201);
      expectLimited(await app.api.put('/v1/users/a-late', {}));
      expectLimited(await onB.put('/v1/users/b-late', {}));
    });

    it('failed authentications count on every instance', async () => {
      for (const url of [a.url, b.url, a.url, b.url])
        expect((await client(url, 'oky_nope').get('/v1/me/conversations')).status).toBe(401);
      expectLimited(await client(b.url, 'oky_nope').get('/v1/me/conversations'));
      expectLimited(await client(a.url, adminToken).get('/v1/consumers'));
    });
  },
);
