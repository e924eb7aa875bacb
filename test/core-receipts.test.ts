// Receipts only move forward, also under concurrency; a message's derived status follows them:
// sent → delivered → read, with the right counts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, startServer, text, type Client, type TestApp, type TestServer } from './harness.js';

let server: TestServer;
let app: TestApp;
let alice: Client;
let bob: Client;
let carol: Client;

beforeAll(async () => {
  server = await startServer();
  app = await createApp(server.url);
  alice = await app.user('alice');
  bob = await app.user('bob');
  carol = await app.user('carol');
});
afterAll(() => server.stop());

async function sendMany(conv: string, n: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const res = await alice.post(`/v1/conversations/${conv}/messages`, { body: text(`m${i + 1}`) });
    expect(res.status).toBe(201);
    ids.push(res.body.id);
  }
  return ids;
}

const status = async (id: string) => {
  const { status, deliveredCount, readCount, recipients } = (await alice.get(`/v1/messages/${id}`)).body;
  return { status, deliveredCount, readCount, recipients };
};

describe('receipts and status', () => {
  it('status goes sent → delivered → read with the right counts', async () => {
    const conv = await app.group(['alice', 'bob', 'carol']);
    const [m1, m2, m3] = (await sendMany(conv, 3)) as [string, string, string];
    expect(await status(m2)).toEqual({ status: 'sent', deliveredCount: 0, readCount: 0, recipients: 2 });

    expect((await bob.post(`/v1/conversations/${conv}/receipts`, { deliveredSeq: 2 })).body).toMatchObject({
      deliveredSeq: 2,
      readSeq: 0,
    });
    expect(await status(m2)).toEqual({ status: 'delivered', deliveredCount: 1, readCount: 0, recipients: 2 });
    expect(await status(m3)).toEqual({ status: 'sent', deliveredCount: 0, readCount: 0, recipients: 2 });

    await carol.post(`/v1/conversations/${conv}/receipts`, { deliveredSeq: 3 });
    await bob.post(`/v1/conversations/${conv}/receipts`, { readSeq: 2 });
    expect(await status(m1)).toEqual({ status: 'read', deliveredCount: 2, readCount: 1, recipients: 2 });
    expect(await status(m2)).toEqual({ status: 'read', deliveredCount: 2, readCount: 1, recipients: 2 });
    expect(await status(m3)).toEqual({ status: 'delivered', deliveredCount: 1, readCount: 0, recipients: 2 });

    // Reading implies delivery: carol reads without a delivered receipt for it first.
    await carol.post(`/v1/conversations/${conv}/receipts`, { readSeq: 3 });
    expect(await status(m3)).toEqual({ status: 'read', deliveredCount: 1, readCount: 1, recipients: 2 });
    expect(await status(m1)).toEqual({ status: 'read', deliveredCount: 2, readCount: 2, recipients: 2 });

    const bobList = (await bob.get('/v1/me/conversations')).body.items.find(
      (c: { id: string }) => c.id === conv,
    );
    expect(bobList).toMatchObject({ lastSeq: 3, readSeq: 2, unread: 1 });
  });

  it('lower values never move a marker back', async () => {
    const conv = await app.group(['alice', 'bob']);
    await sendMany(conv, 5);
    await bob.post(`/v1/conversations/${conv}/receipts`, { deliveredSeq: 5, readSeq: 4 });
    const lower = await bob.post(`/v1/conversations/${conv}/receipts`, { deliveredSeq: 1, readSeq: 2 });
    expect(lower.status).toBe(200);
    expect(lower.body).toMatchObject({ deliveredSeq: 5, readSeq: 4 });
    const zero = await bob.post(`/v1/conversations/${conv}/receipts`, { readSeq: 0 });
    expect(zero.body).toMatchObject({ deliveredSeq: 5, readSeq: 4 });
  });

  it('a marker past the last seq is refused and changes nothing', async () => {
    const conv = await app.group(['alice', 'bob']);
    await sendMany(conv, 2);
    await bob.post(`/v1/conversations/${conv}/receipts`, { readSeq: 1 });
    for (const marks of [{ readSeq: 3 }, { deliveredSeq: 3 }, { deliveredSeq: 2, readSeq: 9 }]) {
      const res = await bob.post(`/v1/conversations/${conv}/receipts`, marks);
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe('seq_out_of_range');
    }
    const row = await server.oncely.services.store.db
      .selectFrom('members')
      .select(['delivered_seq', 'read_seq'])
      .where('app_id', '=', app.appId)
      .where('conversation_id', '=', conv)
      .where('user_id', '=', 'bob')
      .executeTakeFirstOrThrow();
    expect([Number(row.delivered_seq), Number(row.read_seq)]).toEqual([1, 1]);
  });

  it('concurrent receipts in any order leave each marker at the highest value sent', async () => {
    const conv = await app.group(['alice', 'bob']);
    await sendMany(conv, 20);
    const values = Array.from({ length: 40 }, (_, i) => (i % 20) + 1).sort(() => Math.random() - 0.5);
    const answers = await Promise.all(
      values.map((v, i) =>
        bob.post(
          `/v1/conversations/${conv}/receipts`,
          i % 2 ? { readSeq: v } : { deliveredSeq: v, readSeq: Math.max(0, v - 5) },
        ),
      ),
    );
    expect(answers.every((a) => a.status === 200)).toBe(true);
    // Every answer reports markers at least as high as what that request asked for.
    answers.forEach((a, i) => {
      const v = values[i]!;
      expect(a.body.deliveredSeq).toBeGreaterThanOrEqual(v);
      expect(a.body.readSeq).toBeGreaterThanOrEqual(i % 2 ? v : Math.max(0, v - 5));
      expect(a.body.deliveredSeq).toBeGreaterThanOrEqual(a.body.readSeq);
    });
    const sentRead = Math.max(...values.map((v, i) => (i % 2 ? v : Math.max(0, v - 5))));
    const row = await server.oncely.services.store.db
      .selectFrom('members')
      .select(['delivered_seq', 'read_seq'])
      .where('app_id', '=', app.appId)
      .where('conversation_id', '=', conv)
      .where('user_id', '=', 'bob')
      .executeTakeFirstOrThrow();
    expect(Number(row.delivered_seq)).toBe(20);
    expect(Number(row.read_seq)).toBe(sentRead);
  });
});
