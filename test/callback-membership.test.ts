// A callback source is no membership admin: it creates users and joins them only in conversations it
// created (or that an app opened to it). Naming a group made over REST with a stranger, or a member an admin
// removed, is refused with 403 source_not_allowed, kept under rejections, and writes nothing. Parallel first
// sights of one msgId with different senders leave only the winner's users and conversation.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { client, createApp, startServer, type TestApp, type TestServer } from './harness.js';

let server: TestServer;
let app: TestApp;

beforeAll(async () => {
  server = await startServer();
  app = await createApp(server.url);
  for (const id of ['crm', 'other']) {
    expect((await app.api.put(`/v1/callback-sources/${id}`, { format: 'generic' })).status).toBe(201);
  }
});
afterAll(() => server.stop());

let n = 0;
function callback(sourceId: string, fields: { from: string; to?: string; conversationId?: string }) {
  const body = JSON.stringify({ msgId: `m-${++n}`, timestamp: Date.now(), content: `hello ${n}`, ...fields });
  return client(server.url).post(`/v1/apps/${app.appId}/callbacks/${sourceId}`, body);
}

const members = async (conv: string) =>
  ((await app.api.get(`/v1/conversations/${conv}`)).body.members as string[]).sort();
const reasons = async (sourceId: string) =>
  ((await app.api.get(`/v1/callback-sources/${sourceId}/rejections`)).body.items as { reason: string }[]).map(
    (r) => r.reason,
  );

describe('a callback source and conversations it did not create', () => {
  it('naming a group made over REST with an unknown sender is 403 source_not_allowed and adds no one', async () => {
    const conv = await app.group(['alice', 'bob']);
    const before = (await reasons('crm')).length;
    const res = await callback('crm', { from: 'stranger_1', conversationId: conv });
    expect(res.status).toBe(403);
    expect(res.body.error.code).toBe('source_not_allowed');
    expect(await members(conv)).toEqual(['alice', 'bob']);
    expect((await app.api.get('/v1/users/stranger_1')).status).toBe(404);
    expect(await reasons('crm')).toHaveLength(before + 1);
    expect((await reasons('crm'))[0]).toBe('source_not_allowed');
  });

  it('a member may still send there; once an admin removed it, the callback does not bring it back', async () => {
    const conv = await app.group(['alice', 'bob', 'carol']);
    expect((await callback('crm', { from: 'carol', conversationId: conv })).status).toBe(200);
    expect((await app.api.delete(`/v1/conversations/${conv}/members/carol`)).status).toBe(200);
    const res = await callback('crm', { from: 'carol', conversationId: conv });
    expect(res.status).toBe(403);
    expect(res.body.error.code).toBe('source_not_allowed');
    expect(await members(conv)).toEqual(['alice', 'bob']);
  });

  it('in a group the source created it adds members, also back after a removal; another source may not', async () => {
    expect((await callback('crm', { from: 'ext_x', conversationId: 'crm-room' })).status).toBe(200);
    expect((await callback('crm', { from: 'ext_y', conversationId: 'crm-room' })).status).toBe(200);
    expect(await members('crm-room')).toEqual(['ext_x', 'ext_y']);
    expect((await app.api.delete('/v1/conversations/crm-room/members/ext_y')).status).toBe(200);
    expect((await callback('crm', { from: 'ext_y', conversationId: 'crm-room' })).status).toBe(200);
    expect(await members('crm-room')).toEqual(['ext_x', 'ext_y']);

    const res = await callback('other', { from: 'ext_z', conversationId: 'crm-room' });
    expect(res.status).toBe(403);
    expect(res.body.error.code).toBe('source_not_allowed');
    expect((await app.api.get('/v1/users/ext_z')).status).toBe(404);
    expect(await reasons('other')).toEqual(['source_not_allowed']);
  });
});

describe('a conversation opened to a source', () => {
  it('takes members from its callbacks until it is closed again', async () => {
    const conv = await app.group(['alice', 'bob']);
    const opened = await app.api.put(`/v1/callback-sources/crm/conversations/${conv}`);
    expect(opened.status).toBe(200);
    expect(opened.body).toEqual({ sourceId: 'crm', conversationId: conv, open: true });
    expect((await callback('crm', { from: 'guest_1', conversationId: conv })).status).toBe(200);
    expect(await members(conv)).toEqual(['alice', 'bob', 'guest_1']);

    expect((await app.api.delete(`/v1/callback-sources/crm/conversations/${conv}`)).body.open).toBe(false);
    expect((await callback('crm', { from: 'guest_1', conversationId: conv })).status).toBe(200);
    const refused = await callback('crm', { from: 'guest_2', conversationId: conv });
    expect(refused.body.error.code).toBe('source_not_allowed');
    expect(await members(conv)).toEqual(['alice', 'bob', 'guest_1']);
  });

  it('opening needs a source and a conversation of the app', async () => {
    const conv = await app.group(['alice']);
    expect((await app.api.put(`/v1/callback-sources/nope/conversations/${conv}`)).body.error.code).toBe(
      'callback_source_not_found',
    );
    expect((await app.api.put('/v1/callback-sources/crm/conversations/nope')).body.error.code).toBe(
      'conversation_not_found',
    );
  });
});

describe('first sights racing', () => {
  it('10 parallel callbacks of one msgId from different senders leave one message and only its users', async () => {
    const send = (i: number) =>
      client(server.url).post(
        `/v1/apps/${app.appId}/callbacks/crm`,
        JSON.stringify({ msgId: 'race-1', from: `racer_${i}`, to: 'race_target', content: `from ${i}` }),
      );
    const answers = await Promise.all(Array.from({ length: 10 }, (_, i) => send(i)));
    expect(answers.map((a) => a.status)).toEqual(Array(10).fill(200));
    const created = answers.filter((a) => a.body.status === 'ok');
    expect(created).toHaveLength(1);
    expect(answers.filter((a) => a.body.conflict === true)).toHaveLength(9);

    const db = server.oncely.services.store.db;
    const users = await db
      .selectFrom('users')
      .select('id')
      .where('app_id', '=', app.appId)
      .where('id', 'like', 'racer_%')
      .execute();
    expect(users).toHaveLength(1);
    const conversations = await db
      .selectFrom('members')
      .select('conversation_id')
      .where('app_id', '=', app.appId)
      .where('user_id', 'like', 'racer_%')
      .execute();
    expect(conversations.map((c) => c.conversation_id)).toEqual([created[0]!.body.conversationId]);
  });
});
