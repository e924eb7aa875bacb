// Retention of idempotency records: an expired key is as if never sent (404 on lookup, the same key
// creates a new message), and the sweeper deletes expired rows in small batches while sends go on.
import type { KyselyPlugin } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../src/clock.js';
import { createApp, startServer, text, type TestApp, type TestServer } from './harness.js';

const ttlSeconds = 60;
const batchSize = 7;
const clock = new ManualClock();
let server: TestServer;
let app: TestApp;
let conv: string;

beforeAll(async () => {
  server = await startServer(
    {
      ONCELY_IDEMPOTENCY_TTL_SECONDS: String(ttlSeconds),
      ONCELY_SWEEP_BATCH_SIZE: String(batchSize),
      // The timer never fires during the test: sweeps run when the test says so.
      ONCELY_SWEEP_INTERVAL_MS: String(3_600_000),
    },
    { clock },
  );
  app = await createApp(server.url);
  conv = await app.group(['alice', 'bob']);
});
afterAll(() => server.stop());

const send = (key: string, t = 'same body') =>
  app.api.post(
    `/v1/conversations/${conv}/messages`,
    { from: 'alice', body: text(t) },
    { 'idempotency-key': key },
  );

async function keyRows(): Promise<number> {
  const row = await server.oncely.services.store.db
    .selectFrom('idempotency_keys')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('app_id', '=', app.appId)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

describe('idempotency retention', () => {
  it('an expired key answers 404 and then creates a new message', async () => {
    const first = await send('expiring');
    expect(first.status).toBe(201);
    clock.advance((ttlSeconds - 1) * 1000);
    expect((await send('expiring')).status).toBe(200);
    expect((await app.api.get('/v1/idempotency-keys/expiring')).status).toBe(200);

    clock.advance(1000);
    const lookup = await app.api.get('/v1/idempotency-keys/expiring');
    expect(lookup.status).toBe(404);
    expect(lookup.body.error.code).toBe('idempotency_key_not_found');

    // Documented: after expiry the key is new again, even before the sweeper has run.
    const again = await send('expiring');
    expect(again.status).toBe(201);
    expect(again.body.id).not.toBe(first.body.id);
    expect(again.body.seq).toBe(first.body.seq + 1);
    const record = await app.api.get('/v1/idempotency-keys/expiring');
    expect(record.status).toBe(200);
    expect(record.body.result.id).toBe(again.body.id);
    // An expired key may also come back with another body: it is a new request, not a reuse.
    clock.advance(ttlSeconds * 1000);
    expect((await send('expiring', 'different')).status).toBe(201);
  });

  it('the sweeper deletes expired rows in batches while concurrent sends keep succeeding', async () => {
    const { sweeper, store } = server.oncely.services;
    await sweeper.sweep();
    const old = 100;
    for (let i = 0; i < old; i++) expect((await send(`old-${i}`, `old ${i}`)).status).toBe(201);
    clock.advance(ttlSeconds * 1000 + 1);

    // Count the rows each transaction deletes (the sweeper's hold at most one batch each). Counted from its
    // own delete statements: a count of the table would also see other transactions commit meanwhile.
    const deletesPerTransaction: number[] = [];
    const transaction = store.transaction.bind(store);
    const db = store.db;
    (store as { transaction: typeof store.transaction }).transaction = (fn) =>
      transaction(async (tx) => {
        const deletes = new WeakSet<object>();
        let deleted = 0n;
        const counting: KyselyPlugin = {
          transformQuery: ({ node, queryId }) => {
            if (node.kind === 'DeleteQueryNode') deletes.add(queryId);
            return node;
          },
          transformResult: async ({ result, queryId }) => {
            if (deletes.has(queryId)) deleted += result.numAffectedRows ?? 0n;
            return result;
          },
        };
        const result = await fn(tx.withPlugin(counting) as typeof tx);
        if (deleted > 0n) deletesPerTransaction.push(Number(deleted));
        return result;
      });
    try {
      let sweepDone = false;
      let sentDuringSweep = 0;
      const sweeping = sweeper.sweep().then((n) => {
        sweepDone = true;
        return n;
      });
      const fresh = await Promise.all(
        Array.from({ length: 30 }, async (_, i) => {
          const res = await send(`fresh-${i}`, `fresh ${i}`);
          if (!sweepDone) sentDuringSweep++;
          return res.status;
        }),
      );
      const deleted = await sweeping;
      expect(fresh).toEqual(Array(30).fill(201));
      expect(deleted).toBeGreaterThanOrEqual(old);
      // Writers were not stalled behind the whole sweep.
      expect(sentDuringSweep).toBeGreaterThan(0);
      expect(deletesPerTransaction.length).toBeGreaterThanOrEqual(Math.ceil(old / batchSize));
      expect(Math.max(...deletesPerTransaction)).toBeLessThanOrEqual(batchSize);
    } finally {
      (store as { transaction: typeof store.transaction }).transaction = transaction;
    }
    const expired = await db
      .selectFrom('idempotency_keys')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('expires_at', '<=', clock.now())
      .executeTakeFirstOrThrow();
    expect(Number(expired.n)).toBe(0);
    // Exactly the 30 fresh keys remain.
    expect(await keyRows()).toBe(30);
    // The messages themselves are kept: retention is of keys, not of history.
    const history = await app.api.get(`/v1/conversations/${conv}/messages?limit=1000`);
    expect(
      history.body.items.filter((e: { body: { text: string } }) => e.body.text.startsWith('old ')).length,
    ).toBe(old);
  });
});
