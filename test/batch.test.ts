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

interface Item {
  idempotencyKey: string;
  from: string;
  conversationId?: string;
  to?: string;
  body: unknown;
}

const items = (conv: string, keys: string[], from = 'alice'): Item[] =>
  keys.map((k) => ({ idempotencyKey: k, from, conversationId: conv, body: text(`m-${k}`) }));

const batch = (body: { mode?: string; items: Item[] }) => app.api.post('/v1/messages/batch', body);

async function eventsOf(conv: string): Promise<Array<{ id: string; seq: number; body: { text: string } }>> {
  const all = [];
  let after = 0;
  for (;;) {
    const page = await app.api.get(`/v1/conversations/${conv}/messages?after=${after}&limit=1000`);
    all.push(...page.body.items);
    if (!page.body.hasMore) return all;
    after = all[all.length - 1].seq;
  }
}

async function metric(name: string, labels: Record<string, string>): Promise<number> {
  const body = (await client(server.url, adminToken).get<string>('/metrics')).body;
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  const line = body.split('\n').find((l) => l.startsWith(`${name}{`) && want.every((w) => l.includes(w)));
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0;
}

beforeAll(async () => {
  server = await startServer();
  app = await createApp(server.url);
});
afterAll(() => server.stop());

describe('batch send', () => {
  it('a batch of 1,000 with 300 repeated keys answers in order with a right summary', async () => {
    const conv = await app.group(['alice', 'bob']);
    const earlier = await batch({
      items: items(
        conv,
        Array.from({ length: 200 }, (_, i) => `big-${i}`),
      ),
    });
    expect(earlier.body.summary).toEqual({ total: 200, created: 200, duplicate: 0, failed: 0 });
    // 200 keys of the earlier batch, 700 new keys, and 100 of those new keys once more within this batch.
    const keys = [
      ...Array.from({ length: 200 }, (_, i) => `big-${i}`),
      ...Array.from({ length: 700 }, (_, i) => `big-${200 + i}`),
      ...Array.from({ length: 100 }, (_, i) => `big-${200 + i * 7}`),
    ];
    const res = await batch({ items: items(conv, keys) });
    expect(res.status).toBe(200);
    expect(res.body.summary).toEqual({ total: 1000, created: 700, duplicate: 300, failed: 0 });
    const results = res.body.results;
    expect(results.map((r: { index: number }) => r.index)).toEqual(keys.map((_, i) => i));
    expect(results.map((r: { idempotencyKey: string }) => r.idempotencyKey)).toEqual(keys);
    const byKey = new Map<string, { messageId: string; processedAt: string }>();
    for (const r of earlier.body.results) byKey.set(r.idempotencyKey, r);
    for (const r of results.slice(0, 200)) {
      expect(r).toMatchObject({
        status: 'duplicate',
        isIdempotent: true,
        messageId: byKey.get(r.idempotencyKey)!.messageId,
      });
      expect(r.processedAt).toBe(byKey.get(r.idempotencyKey)!.processedAt);
    }
    for (const r of results.slice(200, 900)) {
      expect(r).toMatchObject({ status: 'created', isIdempotent: false, conversationId: conv });
      byKey.set(r.idempotencyKey, r);
    }
    for (const r of results.slice(900)) {
      expect(r).toMatchObject({
        status: 'duplicate',
        isIdempotent: true,
        messageId: byKey.get(r.idempotencyKey)!.messageId,
      });
    }
    const events = await eventsOf(conv);
    expect(events.map((e) => e.seq)).toEqual(Array.from({ length: 900 }, (_, i) => i + 1));
    expect(new Set(events.map((e) => e.body.text)).size).toBe(900);
    // Created items get their seqs in request order.
    expect(results.slice(200, 900).map((r: { seq: number }) => r.seq)).toEqual(
      Array.from({ length: 700 }, (_, i) => 201 + i),
    );
  });

  it('a reused key with another item fails alone while the rest succeed', async () => {
    const conv = await app.group(['alice', 'bob']);
    await batch({ items: items(conv, ['r-1']) });
    const res = await batch({
      items: [
        { idempotencyKey: 'r-1', from: 'alice', conversationId: conv, body: text('changed') },
        { idempotencyKey: 'r-2', from: 'alice', conversationId: conv, body: text('fine') },
        {
          idempotencyKey: 'r-2',
          from: 'alice',
          conversationId: conv,
          body: text('changed within the batch'),
        },
      ],
    });
    expect(res.body.results.map((r: { status: string }) => r.status)).toEqual([
      'failed',
      'created',
      'failed',
    ]);
    expect(res.body.results[0].error).toMatchObject({ code: 'idempotency_key_reused', retryable: false });
    expect(res.body.results[2].error.code).toBe('idempotency_key_reused');
    expect(res.body.summary).toEqual({ total: 3, created: 1, duplicate: 0, failed: 2 });
    expect((await eventsOf(conv)).map((e) => e.body.text)).toEqual(['m-r-1', 'fine']);
  });

  it('unknown conversations and non-members fail per item; "to" finds or creates the direct conversation', async () => {
    const conv = await app.group(['alice', 'bob']);
    await app.api.put('/v1/users/carol', {});
    const res = await batch({
      items: [
        { idempotencyKey: 't-1', from: 'alice', conversationId: 'no-such-conv', body: text('x') },
        { idempotencyKey: 't-2', from: 'carol', conversationId: conv, body: text('x') },
        { idempotencyKey: 't-3', from: 'alice', to: 'carol', body: text('hi carol') },
        { idempotencyKey: 't-4', from: 'carol', to: 'alice', body: text('hi alice') },
        { idempotencyKey: 't-5', from: 'alice', to: 'nobody', body: text('x') },
        { idempotencyKey: 't-6', from: 'alice', body: text('x') },
      ],
    });
    const [r1, r2, r3, r4, r5, r6] = res.body.results;
    expect(r1.error).toMatchObject({ code: 'conversation_not_found', retryable: true });
    expect(r2.error.code).toBe('not_member');
    expect(r3).toMatchObject({ status: 'created', seq: 1 });
    expect(r4).toMatchObject({ status: 'created', seq: 2, conversationId: r3.conversationId });
    expect(r5.error.code).toBe('user_not_found');
    expect(r6.error).toMatchObject({ code: 'invalid_item', retryable: false });
    const direct = await app.api.post('/v1/conversations', { kind: 'direct', members: ['carol', 'alice'] });
    expect(direct.status).toBe(200);
    expect(direct.body.id).toBe(r3.conversationId);
  });

  it('in a partial batch an item of the wrong shape fails alone with invalid_item and its index', async () => {
    const conv = await app.group(['alice', 'bob']);
    const res = await app.api.post('/v1/messages/batch', {
      items: [
        { idempotencyKey: 's-1', from: 'alice', conversationId: conv, body: text('fine') },
        { idempotencyKey: 's-2', from: 'alice', conversationId: conv, body: 'hello' },
        'not an item',
        { idempotencyKey: 's-4', from: 'alice', conversationId: conv, body: text('x'), color: 'red' },
        { idempotencyKey: 42, from: 'alice', conversationId: conv, body: text('x') },
        // The key of a rejected item stays free: a valid item may use it.
        { idempotencyKey: 's-2', from: 'alice', conversationId: conv, body: text('also fine') },
      ],
    });
    expect(res.status).toBe(200);
    const [r1, r2, r3, r4, r5, r6] = res.body.results;
    expect(r1).toMatchObject({ index: 0, status: 'created' });
    expect(r2).toMatchObject({ index: 1, idempotencyKey: 's-2', status: 'failed', isIdempotent: false });
    expect(r2.error).toEqual({
      code: 'invalid_item',
      message:
        'items/1/body must be a message body: {"type":"text","text":"…"} or {"type":"custom","data":…}',
      retryable: false,
    });
    expect(r3).toMatchObject({ index: 2, idempotencyKey: null, status: 'failed' });
    expect(r3.error).toMatchObject({ code: 'invalid_item', message: 'items/2 must be object' });
    expect(r4.error).toMatchObject({
      code: 'invalid_item',
      message:
        'items/3 has an unknown property "color"; it takes idempotencyKey, from, conversationId, to, body',
    });
    expect(r5).toMatchObject({ index: 4, idempotencyKey: null, error: { code: 'invalid_item' } });
    expect(r6).toMatchObject({ index: 5, idempotencyKey: 's-2', status: 'created' });
    expect(res.body.summary).toEqual({ total: 6, created: 2, duplicate: 0, failed: 4 });
    expect((await eventsOf(conv)).map((e) => e.body.text)).toEqual(['fine', 'also fine']);
  });

  it('in an atomic batch an item of the wrong shape fails the batch; what is not a batch at all is a 400', async () => {
    const conv = await app.group(['alice', 'bob']);
    const res = await app.api.post('/v1/messages/batch', {
      mode: 'atomic',
      items: [
        { idempotencyKey: 'sa-1', from: 'alice', conversationId: conv, body: text('x') },
        { idempotencyKey: 'sa-2', from: 'alice', conversationId: conv },
      ],
    });
    expect(res.body.results.map((r: { error: { code: string } }) => r.error.code)).toEqual([
      'batch_aborted',
      'invalid_item',
    ]);
    expect(await eventsOf(conv)).toEqual([]);
    for (const notABatch of [
      { items: 'x' },
      { items: [] },
      { mode: 'some', items: [{}] },
      [],
      { item: [] },
    ]) {
      const refused = await app.api.post('/v1/messages/batch', notABatch);
      expect(refused.status).toBe(400);
      expect(refused.body.error.code).toBe('invalid_request');
    }
  });

  it('atomic mode with one bad item creates nothing', async () => {
    const conv = await app.group(['alice', 'bob']);
    await app.api.put('/v1/users/dave', {});
    const res = await batch({
      mode: 'atomic',
      items: [
        ...items(conv, ['a-1', 'a-2']),
        { idempotencyKey: 'a-3', from: 'alice', to: 'dave', body: text('x') },
        { idempotencyKey: 'a-4', from: 'alice', conversationId: 'missing', body: text('x') },
      ],
    });
    expect(res.status).toBe(200);
    expect(res.body.summary).toEqual({ total: 4, created: 0, duplicate: 0, failed: 4 });
    expect(res.body.results[3].error.code).toBe('conversation_not_found');
    for (const r of res.body.results.slice(0, 3))
      expect(r.error).toMatchObject({ code: 'batch_aborted', retryable: true });
    expect(await eventsOf(conv)).toEqual([]);
    expect((await app.api.get('/v1/idempotency-keys/a-1')).status).toBe(404);
    // Not even the direct conversation of alice and dave was left behind.
    const me = await (await app.user('dave')).get('/v1/me/conversations');
    expect(me.body.items).toEqual([]);
    const ok = await batch({ mode: 'atomic', items: items(conv, ['a-1', 'a-2']) });
    expect(ok.body.summary).toEqual({ total: 2, created: 2, duplicate: 0, failed: 0 });
  });

  it('two concurrent overlapping batches create each key once', async () => {
    const conv = await app.group(['alice', 'bob']);
    const a = Array.from({ length: 600 }, (_, i) => `o-${i}`);
    const b = Array.from({ length: 600 }, (_, i) => `o-${300 + i}`);
    const [ra, rb] = await Promise.all([batch({ items: items(conv, a) }), batch({ items: items(conv, b) })]);
    expect(ra.body.summary.failed + rb.body.summary.failed).toBe(0);
    expect(ra.body.summary.created + rb.body.summary.created).toBe(900);
    expect(ra.body.summary.duplicate + rb.body.summary.duplicate).toBe(300);
    const idsA = new Map(
      ra.body.results.map((r: { idempotencyKey: string; messageId: string }) => [
        r.idempotencyKey,
        r.messageId,
      ]),
    );
    for (const r of rb.body.results.slice(0, 300)) expect(r.messageId).toBe(idsA.get(r.idempotencyKey));
    const events = await eventsOf(conv);
    expect(events).toHaveLength(900);
    expect(events.map((e) => e.seq)).toEqual(Array.from({ length: 900 }, (_, i) => i + 1));
  });

  it('a retried partial batch creates only what had failed', async () => {
    const conv = await app.group(['alice', 'bob']);
    const request = {
      items: [
        ...items(conv, ['p-1', 'p-2']),
        { idempotencyKey: 'p-3', from: 'alice', conversationId: 'later-group', body: text('late') },
      ],
    };
    const first = await batch(request);
    expect(first.body.summary).toEqual({ total: 3, created: 2, duplicate: 0, failed: 1 });
    await app.api.post('/v1/conversations', { id: 'later-group', kind: 'group', members: ['alice'] });
    const retry = await batch(request);
    expect(retry.body.results.map((r: { status: string }) => r.status)).toEqual([
      'duplicate',
      'duplicate',
      'created',
    ]);
    expect(retry.body.results.slice(0, 2).map((r: { messageId: string }) => r.messageId)).toEqual(
      first.body.results.slice(0, 2).map((r: { messageId: string }) => r.messageId),
    );
    expect(await eventsOf(conv)).toHaveLength(2);
    expect(await eventsOf('later-group')).toHaveLength(1);
  });

  it("a batch item's record is readable under scope app", async () => {
    const conv = await app.group(['alice', 'bob']);
    const res = await batch({ items: items(conv, ['h-1']) });
    const record = await app.api.get('/v1/idempotency-keys/h-1?scope=app');
    expect(record.status).toBe(200);
    expect(record.body).toMatchObject({
      state: 'completed',
      result: { id: res.body.results[0].messageId, conversationId: conv, seq: 1 },
    });
    expect(record.body.firstSeenAt).toBe(res.body.results[0].processedAt);
  });

  it('more items than ONCELY_BATCH_MAX_ITEMS is 413 batch_too_large and creates nothing', async () => {
    const conv = await app.group(['alice', 'bob']);
    const res = await batch({
      items: items(
        conv,
        Array.from({ length: 1001 }, (_, i) => `big2-${i}`),
      ),
    });
    expect(res.status).toBe(413);
    expect(res.body.error.code).toBe('batch_too_large');
    expect(await eventsOf(conv)).toEqual([]);
  });

  it('metrics count batch items by status', async () => {
    const before = {
      created: await metric('oncely_batch_items_total', { mode: 'partial', status: 'created' }),
      duplicate: await metric('oncely_batch_items_total', { mode: 'partial', status: 'duplicate' }),
      failed: await metric('oncely_batch_items_total', { mode: 'partial', status: 'failed' }),
    };
    const conv = await app.group(['alice', 'bob']);
    await batch({ items: [...items(conv, ['mt-1', 'mt-2', 'mt-1']), ...items('nowhere', ['mt-3'])] });
    expect(await metric('oncely_batch_items_total', { mode: 'partial', status: 'created' })).toBe(
      before.created + 2,
    );
    expect(await metric('oncely_batch_items_total', { mode: 'partial', status: 'duplicate' })).toBe(
      before.duplicate + 1,
    );
    expect(await metric('oncely_batch_items_total', { mode: 'partial', status: 'failed' })).toBe(
      before.failed + 1,
    );
  });
});

describe('batch default mode', () => {
  it('ONCELY_BATCH_DEFAULT_MODE=atomic makes a batch without "mode" all-or-nothing', async () => {
    const atomic = await startServer({ ONCELY_BATCH_DEFAULT_MODE: 'atomic' });
    try {
      const other = await createApp(atomic.url);
      await other.api.put('/v1/users/alice', {});
      const conv = await other.group(['alice']);
      const res = await other.api.post('/v1/messages/batch', {
        items: [...items(conv, ['d-1']), ...items('missing', ['d-2'])],
      });
      expect(res.body.mode).toBe('atomic');
      expect(res.body.summary.created).toBe(0);
      expect((await other.api.get(`/v1/conversations/${conv}/messages`)).body.items).toEqual([]);
    } finally {
      await atomic.stop();
    }
  });
});
