// User tokens are verified once and then remembered; no cache may let through what the database and the
// token itself would refuse: an expired token, a token of a rotated secret, a removed member's send.
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../src/clock.js';
import {
  adminToken,
  client,
  createApp,
  startServer,
  tempDir,
  text,
  type TestApp,
  type TestServer,
} from './harness.js';

const clock = new ManualClock();
const dir = tempDir();
let one: TestServer;
let two: TestServer;
let app: TestApp;

beforeAll(async () => {
  // Two instances on one database, as several instances share one store.
  one = await startServer({}, { clock, dir });
  two = await startServer({}, { clock, dir });
  app = await createApp(one.url, 'tokens');
  await app.user('alice');
  await app.user('bob');
});
afterAll(async () => {
  await two?.stop();
  await one?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const tokenFor = async (userId: string, ttlSeconds = 3600) =>
  (await app.api.post(`/v1/users/${userId}/tokens`, { ttlSeconds })).body.token as string;

describe('cached token checks', () => {
  it('a token verified before is refused once it expires', async () => {
    const token = await tokenFor('alice', 60);
    const alice = client(one.url, token);
    expect((await alice.get('/v1/me/conversations')).status).toBe(200);
    clock.advance(61_000);
    const res = await alice.get('/v1/me/conversations');
    expect(res.status).toBe(401);
    expect(res.body.error.code).toBe('token_expired');
  });

  it('rotating the secret refuses earlier tokens at once here and within a second on another instance', async () => {
    const token = await tokenFor('alice');
    const [onOne, onTwo] = [client(one.url, token), client(two.url, token)];
    expect((await onOne.get('/v1/me/conversations')).status).toBe(200);
    expect((await onTwo.get('/v1/me/conversations')).status).toBe(200);

    const rotated = await app.api.post(`/v1/apps/${app.appId}/token-secret/rotate`);
    expect(rotated.status).toBe(200);
    expect(rotated.body.appId).toBe(app.appId);
    const refused = await onOne.get('/v1/me/conversations');
    expect(refused.status).toBe(401);
    expect(refused.body.error.code).toBe('invalid_token');
    // The other instance reads the app's secret again after at most a second.
    clock.advance(1_001);
    expect((await onTwo.get('/v1/me/conversations')).status).toBe(401);

    const fresh = await tokenFor('alice');
    expect((await client(one.url, fresh).get('/v1/me/conversations')).status).toBe(200);
    expect((await client(two.url, fresh).get('/v1/me/conversations')).status).toBe(200);
  });

  it('only the admin or the app itself rotates its secret', async () => {
    const other = await createApp(one.url, 'other');
    const path = `/v1/apps/${app.appId}/token-secret/rotate`;
    const byOther = await other.api.post(path);
    expect(byOther.status).toBe(403);
    const byUser = await client(one.url, await tokenFor('bob')).post(path);
    expect(byUser.status).toBe(403);
    const unknown = await client(one.url, adminToken).post('/v1/apps/no-such-app/token-secret/rotate');
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.code).toBe('app_not_found');
    expect(
      (await client(one.url, adminToken).post(`/v1/apps/${other.appId}/token-secret/rotate`)).status,
    ).toBe(200);
  });

  it("a removed member's send is refused although its token is cached", async () => {
    const conv = await app.group(['alice', 'bob']);
    const bob = client(one.url, await tokenFor('bob'));
    const first = await bob.post(`/v1/conversations/${conv}/messages`, { body: text('before') });
    expect(first.status).toBe(201);
    expect((await app.api.delete(`/v1/conversations/${conv}/members/bob`)).status).toBe(200);
    const after = await bob.post(`/v1/conversations/${conv}/messages`, { body: text('after') });
    expect(after.status).toBe(403);
    expect(after.body.error.code).toBe('not_member');
  });
});
