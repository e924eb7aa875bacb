// Conversations users start themselves (POST /v1/me/conversations), an addition to the app-made ones: always
// including the caller, switchable per app, and the people a user shares conversations with (GET /v1/me/people).
// The app's own POST /v1/conversations stays as it was: app keys only.
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

let server: TestServer;
let app: TestApp;
let alice: Awaited<ReturnType<TestApp['user']>>;
let bob: Awaited<ReturnType<TestApp['user']>>;
beforeAll(async () => {
  server = await startServer();
  app = await createApp(server.url);
  alice = await app.user('alice');
  bob = await app.user('bob');
  await app.user('carol');
  await app.api.put('/v1/users/alice', { displayName: 'Alice Liddell' });
});
afterAll(() => server.stop());

describe('a user starts a conversation', () => {
  it('a direct conversation with one other person, found again from either side', async () => {
    const first = await alice.post('/v1/me/conversations', { kind: 'direct', members: ['bob'] });
    expect(first.status).toBe(201);
    expect(first.body).toMatchObject({ kind: 'direct', members: ['alice', 'bob'] });
    const again = await alice.post('/v1/me/conversations', { kind: 'direct', members: ['alice', 'bob'] });
    expect(again.status).toBe(200);
    expect(again.body.id).toBe(first.body.id);
    const fromBob = await bob.post('/v1/me/conversations', { kind: 'direct', members: ['alice'] });
    expect(fromBob.body.id).toBe(first.body.id);
    // The app finds the same pair.
    const byApp = await app.api.post('/v1/conversations', { kind: 'direct', members: ['bob', 'alice'] });
    expect(byApp.status).toBe(200);
    expect(byApp.body.id).toBe(first.body.id);
  });

  it('a group always includes its creator, who may manage it', async () => {
    const group = await alice.post('/v1/me/conversations', {
      kind: 'group',
      title: 'Tea party',
      members: ['bob', 'carol'],
    });
    expect(group.status).toBe(201);
    expect(group.body).toMatchObject({
      kind: 'group',
      title: 'Tea party',
      members: ['alice', 'bob', 'carol'],
    });
    const sent = await bob.post(`/v1/conversations/${group.body.id}/messages`, { body: text('hi') });
    // The creator is the group's admin: she may recall another member's message.
    expect((await alice.post(`/v1/messages/${sent.body.id}/recall`)).status).toBe(200);
    expect((await bob.get(`/v1/conversations/${group.body.id}`)).status).toBe(200);
  });

  it('refuses what is not a conversation of the caller and someone else', async () => {
    const cases: Array<[unknown, number, string]> = [
      [{ kind: 'direct', members: ['alice'] }, 400, 'invalid_members'],
      [{ kind: 'direct', members: ['bob', 'carol'] }, 400, 'invalid_members'],
      [{ kind: 'group', members: ['ghost'] }, 404, 'user_not_found'],
      [{ kind: 'group', members: [] }, 400, 'invalid_request'],
      [{ kind: 'group', members: ['bob'], id: 'chosen' }, 400, 'invalid_request'],
      [{ kind: 'channel', members: ['bob'] }, 400, 'invalid_request'],
    ];
    for (const [body, status, code] of cases) {
      const res = await alice.post('/v1/me/conversations', body);
      expect([res.status, res.body.error?.code], JSON.stringify(body)).toEqual([status, code]);
    }
  });

  it("the app's own endpoint still takes app keys only", async () => {
    const res = await alice.post('/v1/conversations', { kind: 'group', members: ['alice', 'bob'] });
    expect(res.status).toBe(403);
  });
});

describe("the app's setting", () => {
  it('turned off, users cannot start conversations and /v1/me says so; only the admin or the app may change it', async () => {
    const other = await createApp(server.url, 'other');
    const dave = await other.user('dave');
    await other.user('erin');
    expect((await dave.get('/v1/me')).body.canStartConversations).toBe(true);
    expect((await other.api.get(`/v1/apps/${other.appId}/settings`)).body).toEqual({
      usersCreateConversations: true,
    });
    // Not a user, not another app.
    expect(
      (await dave.call('PATCH', `/v1/apps/${other.appId}/settings`, { usersCreateConversations: false }))
        .status,
    ).toBe(403);
    expect(
      (await app.api.call('PATCH', `/v1/apps/${other.appId}/settings`, { usersCreateConversations: false }))
        .status,
    ).toBe(403);

    const off = await other.api.call('PATCH', `/v1/apps/${other.appId}/settings`, {
      usersCreateConversations: false,
    });
    expect(off.body).toEqual({ usersCreateConversations: false });
    expect((await dave.get('/v1/me')).body.canStartConversations).toBe(false);
    const refused = await dave.post('/v1/me/conversations', { kind: 'direct', members: ['erin'] });
    expect(refused.status).toBe(403);
    expect(refused.body.error.code).toBe('user_conversations_disabled');
    // The app still creates them.
    expect(
      (await other.api.post('/v1/conversations', { kind: 'direct', members: ['dave', 'erin'] })).status,
    ).toBe(201);

    const on = await client(server.url, adminToken).call('PATCH', `/v1/apps/${other.appId}/settings`, {
      usersCreateConversations: true,
    });
    expect(on.body).toEqual({ usersCreateConversations: true });
    expect((await dave.post('/v1/me/conversations', { kind: 'group', members: ['erin'] })).status).toBe(201);
  });
});

describe('the people a user shares conversations with', () => {
  it('are the user and the current members of its conversations, with display names; no one else', async () => {
    const fresh = await createApp(server.url, 'people');
    const zed = await fresh.user('zed');
    expect((await zed.get('/v1/me/people')).body.items).toEqual([{ id: 'zed', displayName: 'zed' }]);
    await fresh.user('yan');
    await fresh.user('xia');
    await fresh.user('stranger');
    const group = await fresh.group(['zed', 'yan', 'xia']);
    await fresh.api.put('/v1/users/yan', { displayName: 'Yan Li' });
    expect((await zed.get('/v1/me/people')).body.items).toEqual([
      { id: 'xia', displayName: 'xia' },
      { id: 'yan', displayName: 'Yan Li' },
      { id: 'zed', displayName: 'zed' },
    ]);
    // Removed from the group, xia is no longer among zed's people.
    await fresh.api.delete(`/v1/conversations/${group}/members/xia`);
    const ids = (await zed.get('/v1/me/people')).body.items.map((p: { id: string }) => p.id);
    expect(ids).toEqual(['yan', 'zed']);
    // Another app's people are never seen.
    expect((await alice.get('/v1/me/people')).body.items.map((p: { id: string }) => p.id)).not.toContain(
      'zed',
    );
  });
});
