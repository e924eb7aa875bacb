import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, startServer, text, type TestApp, type TestServer } from './harness.js';

let server: TestServer;
let app: TestApp;

beforeAll(async () => {
  server = await startServer();
  app = await createApp(server.url);
});
afterAll(() => server.stop());

describe('idempotent send', () => {
  it('50 parallel sends with one Idempotency-Key create exactly one event', async () => {
    const conv = await app.group(['alice', 'bob']);
    const answers = await Promise.all(
      Array.from({ length: 50 }, () =>
        app.api.post(
          `/v1/conversations/${conv}/messages`,
          { from: 'alice', body: text('once') },
          { 'idempotency-key': 'k-50' },
        ),
      ),
    );
    const created = answers.filter((a) => a.status === 201);
    const replayed = answers.filter((a) => a.status === 200);
    expect(created).toHaveLength(1);
    expect(replayed).toHaveLength(49);
    for (const a of replayed) expect(a.headers.get('idempotent-replayed')).toBe('true');
    expect(new Set(answers.map((a) => a.body.id)).size).toBe(1);
    expect(new Set(answers.map((a) => a.body.seq))).toEqual(new Set([1]));
    const history = await app.api.get(`/v1/conversations/${conv}/messages?limit=1000`);
    expect(history.body.items).toHaveLength(1);
  });

  it('the same key with another body is refused with 422 idempotency_key_reused', async () => {
    const conv = await app.group(['alice', 'bob']);
    const first = await app.api.post(
      `/v1/conversations/${conv}/messages`,
      { from: 'alice', body: text('a') },
      { 'idempotency-key': 'k-r' },
    );
    expect(first.status).toBe(201);
    const other = await app.api.post(
      `/v1/conversations/${conv}/messages`,
      { from: 'alice', body: text('b') },
      { 'idempotency-key': 'k-r' },
    );
    expect(other.status).toBe(422);
    expect(other.body.error.code).toBe('idempotency_key_reused');
    const history = await app.api.get(`/v1/conversations/${conv}/messages`);
    expect(history.body.items.map((e: { body: unknown }) => e.body)).toEqual([text('a')]);
  });

  it('20 concurrent senders × 50 messages to one group get seq 1..1000 without gaps', async () => {
    const senders = Array.from({ length: 20 }, (_, i) => `s${i}`);
    const conv = await app.group(senders);
    await Promise.all(
      senders.map(async (from) => {
        for (let i = 0; i < 50; i++) {
          const res = await app.api.post(`/v1/conversations/${conv}/messages`, {
            from,
            body: text(`${from}-${i}`),
          });
          expect(res.status).toBe(201);
        }
      }),
    );
    const seqs: number[] = [];
    let after = 0;
    for (;;) {
      const page = await app.api.get(`/v1/conversations/${conv}/messages?after=${after}&limit=200`);
      seqs.push(...page.body.items.map((e: { seq: number }) => e.seq));
      if (!page.body.hasMore) break;
      after = seqs[seqs.length - 1]!;
    }
    expect(seqs).toEqual(Array.from({ length: 1000 }, (_, i) => i + 1));
  });
});
