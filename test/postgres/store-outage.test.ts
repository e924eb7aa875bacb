// The database goes away under load and comes back: PostgreSQL is crashed (immediate shutdown) while
// clients keep sending with retries. Meanwhile sends answer 503 store_unavailable with Retry-After, a
// WebSocket send gets an error frame with that code, and /readyz is 503 naming the store; once the database
// is back the same oncely process serves again, and every acknowledged key exists exactly once with
// gapless seqs and stream positions (nothing half-written). Runs in the postgres project only.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { client, createApp, freePort, startServer, text, waitFor, type TestServer } from '../harness.js';
import { startPostgres, type PostgresServer } from '../postgres-server.js';
import { TestSocket } from '../realtime-socket.js';

let database: PostgresServer;
let server: TestServer;

beforeAll(async () => {
  // A server of this file's own: stopping the worker's shared one would break the next file's tests.
  database = await startPostgres({ port: await freePort() });
  const admin = new pg.Client({ connectionString: database.url() });
  await admin.connect();
  await admin.query('create database oncely');
  await admin.end();
  server = await startServer({ ONCELY_DATABASE_URL: database.url('oncely') });
});
afterAll(async () => {
  await server?.stop();
  await database?.destroy();
});

describe('PostgreSQL outage', () => {
  it('a crashed and restarted database: 503 store_unavailable meanwhile, then recovery without a restart of oncely', async () => {
    const app = await createApp(server.url);
    const alice = await app.user('alice');
    await app.user('bob');
    const conv = await app.group(['alice', 'bob']);
    const socket = await TestSocket.connect(server.url, alice.token);

    const acked = new Map<string, number>();
    const statuses = new Map<number, number>();
    let unavailable = 0;
    let stopping = false;
    async function sendUntilAcked(key: string): Promise<void> {
      for (;;) {
        const res = await app.api.post(
          `/v1/conversations/${conv}/messages`,
          { from: 'alice', body: text(key) },
          { 'idempotency-key': key },
        );
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        if (res.status === 201 || res.status === 200) {
          acked.set(key, res.body.seq);
          return;
        }
        expect(res.status).toBe(503);
        expect(res.body.error.code).toBe('store_unavailable');
        expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
        unavailable++;
        await new Promise((r) => setTimeout(r, 20));
      }
    }
    const load = Array.from({ length: 6 }, async (_, w) => {
      for (let n = 0; !stopping; n++) await sendUntilAcked(`w${w}-${n}`);
    });

    await waitFor(() => acked.size >= 40, 30_000);
    await database.stop('immediate');

    const ready = await client(server.url).get('/readyz');
    expect(ready.status).toBe(503);
    expect(ready.body.checks).toEqual({ store: 'unavailable', bus: 'ok' });
    socket.send({ type: 'send', clientMsgId: 'during-outage', conversationId: conv, body: text('ws') });
    const refused = await socket.waitFor((f) => f.type === 'error' && f.clientMsgId === 'during-outage');
    expect(refused.code).toBe('store_unavailable');
    await waitFor(() => unavailable >= 6, 30_000);

    const before = acked.size;
    await database.start();
    await waitFor(async () => (await client(server.url).get('/readyz')).status === 200, 30_000);
    await waitFor(() => acked.size >= before + 40, 30_000);
    stopping = true;
    await Promise.all(load);

    // The WebSocket that saw the outage sends again on the same connection.
    socket.send({ type: 'send', clientMsgId: 'after-outage', conversationId: conv, body: text('ws') });
    const sent = await socket.waitFor((f) => f.type === 'sent' && f.clientMsgId === 'after-outage');
    expect(sent.duplicate).toBe(false);
    await socket.close();

    // Only successes and 503s were ever answered: no 500, no leaked database error.
    expect([...statuses.keys()].filter((s) => ![200, 201, 503].includes(s))).toEqual([]);

    const { db } = server.oncely.services.store;
    const rows = await db
      .selectFrom('events')
      .select(['seq', 'pos', 'body'])
      .where('conversation_id', '=', conv)
      .orderBy('seq')
      .execute();
    const bodies = rows.map((r) => (JSON.parse(r.body!) as { text: string }).text);
    expect(rows.map((r) => r.seq)).toEqual(rows.map((_, i) => i + 1));
    expect(rows.map((r) => r.pos)).toEqual(rows.map((_, i) => i + 1));
    expect(new Set(bodies).size).toBe(bodies.length);
    // Every stored message was acknowledged (senders retry until it is), and every acknowledged one stored.
    const fromLoad = bodies.filter((b) => b !== 'ws');
    expect(fromLoad.length).toBe(acked.size);
    for (const [key, seq] of acked) expect(rows[seq - 1]?.body).toContain(key);
    const unanswered = await db
      .selectFrom('idempotency_keys')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('result', '=', '{}')
      .executeTakeFirstOrThrow();
    expect(unanswered.n).toBe(0);
    console.info(`outage: ${acked.size} messages, ${unavailable} answers 503 store_unavailable`);
  });
});
