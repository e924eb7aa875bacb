// Writes that race on one row, as several instances on one PostgreSQL make them race (and SQLite's single
// writer never does): each ends as one effect, the others see it, and none answers 500 or leaks a
// unique violation.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, startServer, text, type TestApp, type TestServer } from './harness.js';

let server: TestServer;
let app: TestApp;

beforeAll(async () => {
  server = await startServer({ ONCELY_RECALL_WINDOW_SECONDS: '0' });
  app = await createApp(server.url);
});
afterAll(() => server.stop());

const parallel = <T>(n: number, f: (i: number) => Promise<T>) =>
  Promise.all(Array.from({ length: n }, (_, i) => f(i)));

async function events(conv: string) {
  const page = await app.api.get(`/v1/conversations/${conv}/messages?limit=1000`);
  expect(page.status).toBe(200);
  return page.body.items as Array<{ type: string; seq: number; userId?: string; messageId?: string }>;
}

describe('concurrent writes of one row', () => {
  it('20 parallel first PUTs of one user: one creates, the others update', async () => {
    const answers = await parallel(20, (i) => app.api.put('/v1/users/racer', { displayName: `r${i}` }));
    expect(answers.map((a) => a.status).sort()).toEqual([...Array(19).fill(200), 201]);
  });

  it('10 parallel first PUTs of one callback source: one creates, the others update', async () => {
    const answers = await parallel(10, () => app.api.put('/v1/callback-sources/race', { format: 'generic' }));
    expect(answers.map((a) => a.status).sort()).toEqual([...Array(9).fill(200), 201]);
  });

  it('10 parallel recalls of one message append one message.recalled event', async () => {
    const conv = await app.group(['alice', 'bob']);
    const sent = await app.api.post(`/v1/conversations/${conv}/messages`, { from: 'alice', body: text('x') });
    expect(sent.status).toBe(201);
    const answers = await parallel(10, () => app.api.post(`/v1/messages/${sent.body.id}/recall`));
    expect(answers.map((a) => a.status)).toEqual(Array(10).fill(200));
    expect(new Set(answers.map((a) => a.body.event.id)).size).toBe(1);
    const recalls = (await events(conv)).filter((e) => e.type === 'message.recalled');
    expect(recalls).toHaveLength(1);
  });

  it('10 parallel adds of one member make one member.added; 10 parallel removals one member.removed', async () => {
    const conv = await app.group(['alice']);
    await app.api.put('/v1/users/carol', {});
    const adds = await parallel(10, () =>
      app.api.post(`/v1/conversations/${conv}/members`, { userIds: ['carol'] }),
    );
    expect(adds.map((a) => a.status)).toEqual(Array(10).fill(200));
    const removals = await parallel(10, () => app.api.delete(`/v1/conversations/${conv}/members/carol`));
    expect(removals.map((a) => a.status).sort()).toEqual([200, ...Array(9).fill(404)]);
    const all = await events(conv);
    expect(all.filter((e) => e.type === 'member.added')).toHaveLength(1);
    expect(all.filter((e) => e.type === 'member.removed')).toHaveLength(1);
    expect(all.map((e) => e.seq)).toEqual(all.map((_, i) => i + 1));
  });
});
