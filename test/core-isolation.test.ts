// Invariant 4: a user reads and writes only conversations it is a member of; an app sees only its own data.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createApp,
  startServer,
  text,
  type ApiResponse,
  type Client,
  type TestApp,
  type TestServer,
} from './harness.js';

let server: TestServer;
let a: TestApp;
let b: TestApp;
let alice: Client;
let carol: Client;
let zed: Client;
let conv: string;
let messageId: string;
let bConv: string;

beforeAll(async () => {
  server = await startServer();
  a = await createApp(server.url, 'a');
  b = await createApp(server.url, 'b');
  alice = await a.user('alice');
  await a.user('bob');
  carol = await a.user('carol');
  zed = await b.user('zed');
  await b.user('yan');
  // Both apps choose the same conversation id: ids are the app's own.
  conv = await a.group(['alice', 'bob'], { id: 'shared-id' });
  bConv = await b.group(['zed', 'yan'], { id: 'shared-id' });
  const sent = await a.api.post(
    `/v1/conversations/${conv}/messages`,
    { from: 'alice', body: text('for a') },
    { 'idempotency-key': 'same-key' },
  );
  expect(sent.status).toBe(201);
  messageId = sent.body.id;
  const bSent = await b.api.post(
    `/v1/conversations/${bConv}/messages`,
    { from: 'zed', body: text('for b') },
    { 'idempotency-key': 'same-key' },
  );
  // The same key in another app is another key.
  expect(bSent.status).toBe(201);
});
afterAll(() => server.stop());

type Probe = [name: string, run: () => Promise<ApiResponse>, status: number, code: string];

async function expectAll(probes: Probe[]): Promise<void> {
  const got = await Promise.all(
    probes.map(async ([name, run]) => {
      const res = await run();
      return `${name}: ${res.status} ${res.body?.error?.code}`;
    }),
  );
  expect(got).toEqual(probes.map(([name, , status, code]) => `${name}: ${status} ${code}`));
}

describe('isolation', () => {
  it('a non-member can neither read, send, mark receipts nor recall', async () => {
    await expectAll([
      ['history', () => carol.get(`/v1/conversations/${conv}/messages`), 403, 'not_member'],
      ['conversation', () => carol.get(`/v1/conversations/${conv}`), 403, 'not_member'],
      ['message lookup', () => carol.get(`/v1/messages/${messageId}`), 403, 'not_member'],
      [
        'send',
        () => carol.post(`/v1/conversations/${conv}/messages`, { body: text('intruder') }),
        403,
        'not_member',
      ],
      ['receipts', () => carol.post(`/v1/conversations/${conv}/receipts`, { readSeq: 1 }), 403, 'not_member'],
      ['recall', () => carol.post(`/v1/messages/${messageId}/recall`), 403, 'not_member'],
    ]);
    const history = await a.api.get(`/v1/conversations/${conv}/messages`);
    expect(history.body.items.map((e: { body: unknown }) => e.body)).toEqual([text('for a')]);
  });

  it('a removed member loses access from its removal on', async () => {
    const dave = await a.user('dave');
    const group = await a.group(['alice', 'dave']);
    expect((await dave.get(`/v1/conversations/${group}/messages`)).status).toBe(200);
    expect((await a.api.delete(`/v1/conversations/${group}/members/dave`)).status).toBe(200);
    await expectAll([
      ['history', () => dave.get(`/v1/conversations/${group}/messages`), 403, 'not_member'],
      [
        'send',
        () => dave.post(`/v1/conversations/${group}/messages`, { body: text('x') }),
        403,
        'not_member',
      ],
      ['receipts', () => dave.post(`/v1/conversations/${group}/receipts`, { readSeq: 1 }), 403, 'not_member'],
    ]);
  });

  it("one app's key and users see nothing of another app", async () => {
    await expectAll([
      [
        'conversation',
        () => b.api.get(`/v1/conversations/does-not-exist-in-b`),
        404,
        'conversation_not_found',
      ],
      ['message', () => b.api.get(`/v1/messages/${messageId}`), 404, 'message_not_found'],
      ['recall', () => b.api.post(`/v1/messages/${messageId}/recall`), 404, 'message_not_found'],
      ['user', () => b.api.get('/v1/users/alice'), 404, 'user_not_found'],
      ['user token', () => b.api.post('/v1/users/alice/tokens', {}), 404, 'user_not_found'],
      [
        'conversation with their user',
        () => b.api.post('/v1/conversations', { kind: 'group', members: ['alice'] }),
        404,
        'user_not_found',
      ],
      [
        'add their user',
        () => b.api.post(`/v1/conversations/${bConv}/members`, { userIds: ['alice'] }),
        404,
        'user_not_found',
      ],
      [
        'send as their user',
        () => b.api.post(`/v1/conversations/${bConv}/messages`, { from: 'alice', body: text('x') }),
        403,
        'not_member',
      ],
      ['message via user token', () => zed.get(`/v1/messages/${messageId}`), 404, 'message_not_found'],
      ['recall via user token', () => zed.post(`/v1/messages/${messageId}/recall`), 404, 'message_not_found'],
    ]);
    // The same conversation id in each app holds each app's own messages.
    const aHistory = await a.api.get(`/v1/conversations/shared-id/messages`);
    const bHistory = await b.api.get(`/v1/conversations/shared-id/messages`);
    expect(aHistory.body.items.map((e: { body: unknown }) => e.body)).toEqual([text('for a')]);
    expect(bHistory.body.items.map((e: { body: unknown }) => e.body)).toEqual([text('for b')]);
    expect((await b.api.get('/v1/conversations/shared-id')).body.members.sort()).toEqual(['yan', 'zed']);
    // Idempotency records are per app: B's record of "same-key" answers B's message.
    const aKey = await a.api.get('/v1/idempotency-keys/same-key');
    const bKey = await b.api.get('/v1/idempotency-keys/same-key');
    expect(aKey.body.result.id).toBe(messageId);
    expect(bKey.body.result.id).not.toBe(messageId);
    expect(bKey.body.result.id).toBe(bHistory.body.items[0].id);
  });

  it('me/conversations lists only the caller’s conversations', async () => {
    const direct = await a.api.post('/v1/conversations', { kind: 'direct', members: ['carol', 'bob'] });
    const mine = async (c: Client) =>
      ((await c.get('/v1/me/conversations')).body.items as Array<{ id: string }>).map((i) => i.id).sort();
    expect(await mine(carol)).toEqual([direct.body.id]);
    expect(await mine(zed)).toEqual([bConv]);
    const aliceItems = await mine(alice);
    expect(aliceItems).toContain(conv);
    expect(aliceItems).not.toContain(direct.body.id);
  });
});
