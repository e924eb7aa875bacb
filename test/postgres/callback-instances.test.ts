// First sights of one callback msgId racing on two instances over one database: each instance gets 10
// signed callbacks at once, all with the msgId, each from another sender. The message's users, conversation
// and members are made in the transaction that claims the msgId, so exactly one message is stored and only
// its sender's user (and its conversation, its membership) is left, whichever instance won. Runs in the
// postgres project only (test/callback-membership.test.ts has the one-instance race on both stores).
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  client,
  createApp,
  dropDatabase,
  startServer,
  tempDir,
  type TestApp,
  type TestServer,
} from '../harness.js';
import { signedHeaders } from '../signed-webhook.js';
import { databaseUrl } from '../test-store.js';

const dir = tempDir('oncely-pg-callback-instances-');
const secret = `whsec_${randomBytes(24).toString('base64')}`;
let servers: TestServer[] = [];
let app: TestApp;

beforeAll(async () => {
  const env = { ONCELY_DATABASE_URL: await databaseUrl(dir) };
  servers = await Promise.all([1, 2].map(() => startServer(env)));
  app = await createApp(servers[0]!.url);
  expect((await app.api.put('/v1/callback-sources/crm', { format: 'generic', secret })).status).toBe(201);
});
afterAll(async () => {
  await Promise.all(servers.map((s) => s.stop()));
  await dropDatabase(dir);
});

/** 10 callbacks at once on each instance, one msgId, senders `${prefix}${instance}_${i}`. */
async function race(prefix: string, fields: { to?: string; conversationId?: string }) {
  const msgId = `${prefix}msg`;
  const sends = servers.flatMap((s, n) =>
    Array.from({ length: 10 }, (_, i) => {
      const body = JSON.stringify({
        msgId,
        from: `${prefix}${n}_${i}`,
        content: `from ${n}.${i}`,
        ...fields,
      });
      return client(s.url).post(`/v1/apps/${app.appId}/callbacks/crm`, body, signedHeaders(secret, body));
    }),
  );
  const answers = await Promise.all(sends);
  expect(answers.map((a) => a.status)).toEqual(Array(20).fill(200));
  const created = answers.filter((a) => a.body.status === 'ok');
  expect(created).toHaveLength(1);
  // Every loser is answered as a repeat of the winner, with another payload.
  for (const a of answers.filter((x) => x.body.status !== 'ok')) {
    expect(a.body).toMatchObject({
      reason: 'duplicate',
      conflict: true,
      messageId: created[0]!.body.messageId,
    });
  }
  return created[0]!.body as { messageId: string; conversationId: string };
}

const db = () => servers[0]!.oncely.services.store.db;

async function racers(prefix: string) {
  const users = await db()
    .selectFrom('users')
    .select('id')
    .where('app_id', '=', app.appId)
    .where('id', 'like', `${prefix}%`)
    .execute();
  const members = await db()
    .selectFrom('members')
    .select(['conversation_id', 'user_id'])
    .where('app_id', '=', app.appId)
    .where('user_id', 'like', `${prefix}%`)
    .execute();
  const messages = await db()
    .selectFrom('events')
    .select('id')
    .where('app_id', '=', app.appId)
    .where('type', '=', 'message.created')
    .where('sender_id', 'like', `${prefix}%`)
    .execute();
  return { users: users.map((u) => u.id), members, messages: messages.map((m) => m.id) };
}

describe('first sights of one msgId on two instances', () => {
  it('to one receiver: one message, and only its sender and its direct conversation exist', async () => {
    const won = await race('dm_', { to: 'dm_target' });
    const left = await racers('dm_');
    expect(left.messages).toEqual([won.messageId]);
    const sender = left.users.filter((u) => u !== 'dm_target');
    expect(sender).toHaveLength(1);
    expect(left.members).toEqual(
      expect.arrayContaining([{ conversation_id: won.conversationId, user_id: sender[0] }]),
    );
    expect(left.members.map((m) => m.conversation_id)).toEqual([won.conversationId, won.conversationId]);
    const directs = await db()
      .selectFrom('conversations')
      .select('id')
      .where('app_id', '=', app.appId)
      .where('direct_key', 'like', '%dm_target%')
      .execute();
    expect(directs.map((c) => c.id)).toEqual([won.conversationId]);
  });

  it('naming a new group: one message, one group, and only its sender as member', async () => {
    const won = await race('room_', { conversationId: 'race-room' });
    expect(won.conversationId).toBe('race-room');
    const left = await racers('room_');
    expect(left.messages).toEqual([won.messageId]);
    expect(left.users).toHaveLength(1);
    expect(left.members).toEqual([{ conversation_id: 'race-room', user_id: left.users[0] }]);
  });

  it('naming a group opened to the source: one message, and only its sender was added', async () => {
    const conv = await app.group(['alice']);
    expect((await app.api.put(`/v1/callback-sources/crm/conversations/${conv}`)).status).toBe(200);
    await race('guest_', { conversationId: conv });
    const left = await racers('guest_');
    expect(left.messages).toHaveLength(1);
    expect(left.users).toHaveLength(1);
    expect(left.members).toEqual([{ conversation_id: conv, user_id: left.users[0] }]);
    const added = await db()
      .selectFrom('events')
      .select('subject_id')
      .where('app_id', '=', app.appId)
      .where('conversation_id', '=', conv)
      .where('type', '=', 'member.added')
      .execute();
    expect(added.map((e) => e.subject_id)).toEqual(left.users);
  });
});
