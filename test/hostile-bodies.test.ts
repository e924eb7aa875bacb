// Invariant 5 for hostile message bodies: a body nested deeper than the limit is refused with
// `400 body_too_deep` on every entry point (REST, WebSocket, batch item, callback) before anything
// recursive runs over it, never a 500, and nothing of it is written.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { client, createApp, startServer, type TestApp, type TestServer } from './harness.js';
import { TestSocket } from './realtime-socket.js';

const maxDepth = 16;
let server: TestServer;
let app: TestApp;
let conv: string;

/** `[[…]]`, `depth` arrays deep, as JSON text (too deep for JSON.stringify to write). */
const arrays = (depth: number) => '['.repeat(depth) + ']'.repeat(depth);
/** `{"type":"custom","data":[[…]]}` as JSON text, `depth` containers deep counting the body object itself. */
const nested = (depth: number) => `{"type":"custom","data":${arrays(depth - 1)}}`;
/** A JSON object's text with `body` spliced in raw. */
const withBody = (fields: Record<string, unknown>, body: string) =>
  `${JSON.stringify(fields).slice(0, -1)},"body":${body}}`;

async function eventCount(): Promise<number> {
  const row = await server.oncely.services.store.db
    .selectFrom('events')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('app_id', '=', app.appId)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

beforeAll(async () => {
  server = await startServer({ ONCELY_MESSAGE_MAX_DEPTH: String(maxDepth) });
  app = await createApp(server.url);
  conv = await app.group(['alice', 'bob']);
});
afterAll(() => server.stop());

describe('message body nesting depth', () => {
  it('a body at the limit is accepted; one level deeper is 400 body_too_deep', async () => {
    const ok = await app.api.post(
      `/v1/conversations/${conv}/messages`,
      withBody({ from: 'alice' }, nested(maxDepth)),
    );
    expect(ok.status).toBe(201);
    const deeper = await app.api.post(
      `/v1/conversations/${conv}/messages`,
      withBody({ from: 'alice' }, nested(maxDepth + 1)),
    );
    expect(deeper.status).toBe(400);
    expect(deeper.body.error.code).toBe('body_too_deep');
  });

  it('5,000 levels over REST, with and without an idempotency key, are 400 and write nothing', async () => {
    const before = await eventCount();
    for (const headers of [{}, { 'idempotency-key': 'deep-1' }] as Record<string, string>[]) {
      const res = await app.api.post(
        `/v1/conversations/${conv}/messages`,
        withBody({ from: 'alice', clientMsgId: 'deep-c' }, nested(5000)),
        headers,
      );
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe('body_too_deep');
    }
    expect((await app.api.get('/v1/idempotency-keys/deep-1')).status).toBe(404);
    expect(await eventCount()).toBe(before);
  });

  it('over WebSocket a deep send gets a body_too_deep error frame and the socket stays usable', async () => {
    const alice = await app.user('alice');
    const ws = await TestSocket.connect(server.url, alice.token);
    ws.ws.send(withBody({ type: 'send', clientMsgId: 'ws-deep', conversationId: conv }, nested(5000)));
    const error = await ws.waitFor((f) => f.type === 'error');
    expect(error).toMatchObject({ code: 'body_too_deep', clientMsgId: 'ws-deep' });
    ws.ws.send(withBody({ type: 'send', clientMsgId: 'ws-fine', conversationId: conv }, nested(3)));
    await ws.waitFor((f) => f.type === 'sent' && f.clientMsgId === 'ws-fine');
    await ws.close();
  });

  it('in a partial batch the deep item fails alone and the good items are created', async () => {
    const item = (key: string, from: string, depth: number) =>
      withBody({ idempotencyKey: key, from, conversationId: conv }, nested(depth));
    const items = [item('b-good-1', 'alice', 2), item('b-deep', 'alice', 5000), item('b-good-2', 'bob', 2)];
    const res = await app.api.post('/v1/messages/batch', `{"mode":"partial","items":[${items.join(',')}]}`);
    expect(res.status).toBe(200);
    expect(res.body.results.map((r: { status: string }) => r.status)).toEqual([
      'created',
      'failed',
      'created',
    ]);
    expect(res.body.results[1]).toMatchObject({
      idempotencyKey: 'b-deep',
      error: { code: 'body_too_deep', retryable: false },
    });
    expect((await app.api.get('/v1/idempotency-keys/b-deep')).status).toBe(404);
  });

  it('a deep callback is 400 body_too_deep, kept under rejections, and creates no users', async () => {
    expect((await app.api.put('/v1/callback-sources/deep', { format: 'generic' })).status).toBe(201);
    const before = await eventCount();
    const payload = `${JSON.stringify({
      msgId: 'deep-cb',
      from: 'stranger_1',
      to: 'stranger_2',
      timestamp: Date.now(),
    }).slice(0, -1)},"content":[${arrays(5000)}]}`;
    const res = await client(server.url).post(`/v1/apps/${app.appId}/callbacks/deep`, payload);
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('body_too_deep');
    const rejections = await app.api.get('/v1/callback-sources/deep/rejections');
    expect(rejections.body.items.map((r: { reason: string }) => r.reason)).toEqual(['body_too_deep']);
    expect((await app.api.get('/v1/users/stranger_1')).status).toBe(404);
    expect(await eventCount()).toBe(before);
  });
});
