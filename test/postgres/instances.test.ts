// Several oncely instances on one PostgreSQL database, as behind a load balancer: idempotency claims race
// across connections and instances, yet one key makes one message, and every repeat is a replay — never a
// 500 or a leaked unique violation. Runs in the postgres project only.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  adminToken,
  client,
  createApp,
  dropDatabase,
  startServer,
  tempDir,
  text,
  type TestServer,
} from '../harness.js';
import { databaseUrl } from '../test-store.js';

const dir = tempDir('oncely-pg-instances-');
let servers: TestServer[] = [];

beforeAll(async () => {
  const env = { ONCELY_DATABASE_URL: await databaseUrl(dir) };
  servers = await Promise.all([1, 2, 3, 4, 5].map(() => startServer(env)));
});
afterAll(async () => {
  await Promise.all(servers.map((s) => s.stop()));
  await dropDatabase(dir);
});

describe('several instances on one database', () => {
  it('50 concurrent sends of one Idempotency-Key over 5 instances make 1 message and 49 replays', async () => {
    const app = await createApp(servers[0]!.url);
    const conv = await app.group(['alice', 'bob']);
    const answers = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        client(servers[i % servers.length]!.url, app.apiKey).post(
          `/v1/conversations/${conv}/messages`,
          { from: 'alice', body: text('once') },
          { 'idempotency-key': 'k-50' },
        ),
      ),
    );
    expect(answers.map((a) => a.status).sort()).toEqual([...Array(49).fill(200), 201]);
    for (const a of answers.filter((a) => a.status === 200))
      expect(a.headers.get('idempotent-replayed')).toBe('true');
    expect(new Set(answers.map((a) => a.body.id)).size).toBe(1);
    const history = await app.api.get(`/v1/conversations/${conv}/messages?limit=1000`);
    expect(history.body.items).toHaveLength(1);
  });

  it('concurrent sends to one conversation over 5 instances get gapless seqs and positions', async () => {
    const app = await createApp(servers[0]!.url);
    const conv = await app.group(['alice', 'bob']);
    const answers = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        client(servers[i % servers.length]!.url, app.apiKey).post(
          `/v1/conversations/${conv}/messages`,
          { from: i % 2 ? 'alice' : 'bob', body: text(`m${i}`) },
          { 'idempotency-key': `k-${i}` },
        ),
      ),
    );
    expect(answers.map((a) => a.status)).toEqual(Array(200).fill(201));
    expect(answers.map((a) => a.body.seq).sort((a, b) => a - b)).toEqual(answers.map((_, i) => i + 1));
    const { db } = servers[0]!.oncely.services.store;
    const rows = await db.selectFrom('events').select('pos').orderBy('pos').execute();
    expect(rows.map((r) => r.pos)).toEqual(rows.map((_, i) => i + 1));
    // Every event transaction reported how long it held the position counter (a figure, not a limit).
    const metrics = (await client(servers[0]!.url, adminToken).get('/metrics')).body as string;
    const sum = Number(/^oncely_store_counter_hold_seconds_sum (\S+)$/m.exec(metrics)?.[1]);
    const count = Number(/^oncely_store_counter_hold_seconds_count (\S+)$/m.exec(metrics)?.[1]);
    expect(count).toBeGreaterThan(0);
    console.info(
      `counter held ${((sum / count) * 1000).toFixed(2)} ms on average over ${count} transactions`,
    );
  });
});
