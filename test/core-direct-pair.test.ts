// Conversations under concurrency: a direct pair exists once however many creates race, and membership
// changes are sequenced events among the messages.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, startServer, text, type TestApp, type TestServer } from './harness.js';

let server: TestServer;
let app: TestApp;

beforeAll(async () => {
  server = await startServer();
  app = await createApp(server.url);
  for (const u of ['alice', 'bob', 'carol', 'dave', 'erin']) await app.api.put(`/v1/users/${u}`, {});
});
afterAll(() => server.stop());

describe('direct pairs and membership', () => {
  it('20 parallel creates of one direct pair, in both orders, make one conversation', async () => {
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        app.api.post('/v1/conversations', {
          kind: 'direct',
          members: i % 2 ? ['alice', 'bob'] : ['bob', 'alice'],
        }),
      ),
    );
    expect(answers.filter((a) => a.status === 201)).toHaveLength(1);
    expect(answers.filter((a) => a.status === 200)).toHaveLength(19);
    expect(new Set(answers.map((a) => a.body.id)).size).toBe(1);
    expect(answers[0]!.body.members.sort()).toEqual(['alice', 'bob']);
    const rows = await server.oncely.services.store.db
      .selectFrom('conversations')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('app_id', '=', app.appId)
      .where('kind', '=', 'direct')
      .executeTakeFirstOrThrow();
    expect(Number(rows.n)).toBe(1);
  });

  it('adding and removing members appends sequenced member.added / member.removed events', async () => {
    const conv = await app.group(['alice']);
    const added = await app.api.post(`/v1/conversations/${conv}/members`, { userIds: ['bob', 'carol'] });
    expect(added.status).toBe(200);
    expect(
      added.body.events.map((e: { type: string; userId: string; seq: number }) => [e.type, e.userId, e.seq]),
    ).toEqual([
      ['member.added', 'bob', 1],
      ['member.added', 'carol', 2],
    ]);
    // Adding a current member again changes nothing.
    expect(
      (await app.api.post(`/v1/conversations/${conv}/members`, { userIds: ['bob'] })).body.events,
    ).toEqual([]);
    await app.api.post(`/v1/conversations/${conv}/messages`, { from: 'bob', body: text('hi') });
    const removed = await app.api.delete(`/v1/conversations/${conv}/members/bob`);
    expect(removed.body.event).toMatchObject({ type: 'member.removed', userId: 'bob', seq: 4 });
    expect(removed.body.conversation.members.sort()).toEqual(['alice', 'carol']);
    await app.api.post(`/v1/conversations/${conv}/members`, { userIds: ['bob'] });

    const history = await app.api.get(`/v1/conversations/${conv}/messages`);
    expect(history.body.items.map((e: { type: string; seq: number }) => `${e.seq} ${e.type}`)).toEqual([
      '1 member.added',
      '2 member.added',
      '3 message.created',
      '4 member.removed',
      '5 member.added',
    ]);
  });

  it('membership changes racing with sends keep seqs gapless', async () => {
    const conv = await app.group(['alice']);
    const joiners = ['bob', 'carol', 'dave', 'erin'];
    await Promise.all([
      ...joiners.map((u) => app.api.post(`/v1/conversations/${conv}/members`, { userIds: [u] })),
      ...Array.from({ length: 20 }, (_, i) =>
        app.api.post(`/v1/conversations/${conv}/messages`, { from: 'alice', body: text(`m${i}`) }),
      ),
      app.api.delete(`/v1/conversations/${conv}/members/alice`).then(() => undefined),
    ]);
    const history = await app.api.get(`/v1/conversations/${conv}/messages?limit=1000`);
    const items = history.body.items as Array<{ seq: number; type: string }>;
    expect(items.map((e) => e.seq)).toEqual(Array.from({ length: items.length }, (_, i) => i + 1));
    expect(items.filter((e) => e.type === 'member.added')).toHaveLength(4);
    expect(items.filter((e) => e.type === 'member.removed')).toHaveLength(1);
    // Sends after alice's removal were refused, so every stored message precedes her removal.
    const removedAt = items.find((e) => e.type === 'member.removed')!.seq;
    expect(items.filter((e) => e.type === 'message.created').every((e) => e.seq < removedAt)).toBe(true);
  });
});
