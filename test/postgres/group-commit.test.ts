// Group commit on a pool: one instance keeps up to ONCELY_GROUP_COMMIT_IN_FLIGHT groups under way, each in
// its own transaction on its own connection, each taking the position counter last. Shown by holding the
// counter from outside: the groups wait for it side by side, having done everything else; further sends
// queue in the instance. Runs in the postgres project only.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  adminToken,
  client,
  createApp,
  dropDatabase,
  startServer,
  tempDir,
  text,
  waitFor,
  type TestServer,
} from '../harness.js';
import { databaseUrl } from '../test-store.js';

const dir = tempDir('oncely-pg-group-commit-');
let url: string;
let server: TestServer;

beforeAll(async () => {
  url = await databaseUrl(dir);
  server = await startServer({ ONCELY_DATABASE_URL: url, ONCELY_GROUP_COMMIT_IN_FLIGHT: '3' });
});
afterAll(async () => {
  await server.stop();
  await dropDatabase(dir);
});

async function metric(name: string): Promise<number> {
  const body = (await client(server.url, adminToken).get<string>('/metrics')).body;
  const line = body.split('\n').find((l) => l.startsWith(`${name} `));
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0;
}

describe('group commit on a pool', () => {
  it('three groups wait for the counter side by side on three connections; further sends queue', async () => {
    const app = await createApp(server.url);
    const convs: string[] = [];
    for (let i = 0; i < 8; i++) convs.push(await app.group(['alice', 'bob']));
    // Warm: the pool has connections open, and the counter row exists.
    expect(
      (await app.api.post(`/v1/conversations/${convs[0]}/messages`, { from: 'alice', body: text('0') }))
        .status,
    ).toBe(201);
    const groupsBefore = await metric('oncely_group_commit_size_count');

    const holder = new pg.Client({ connectionString: url });
    await holder.connect();
    const holderPid = (await holder.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0]!.pid;
    const observer = new pg.Client({ connectionString: url });
    await observer.connect();
    /**
     * Backends of this database waiting to update the counter row the holder locked: the first waits on the
     * holder, the others on the tuple lock behind it (PostgreSQL queues a row's waiters one behind another).
     */
    const waiting = async () =>
      (
        await observer.query<{ pid: number }>(
          `select pid from pg_stat_activity
            where datname = current_database() and pid <> $1 and cardinality(pg_blocking_pids(pid)) > 0
              and query like '%update counters%'`,
          [holderPid],
        )
      ).rows.map((r) => r.pid);
    try {
      await holder.query('begin');
      await holder.query(`select value from counters where name = 'pos' for update`);

      const send = (i: number) =>
        app.api.post(
          `/v1/conversations/${convs[i]}/messages`,
          { from: 'alice', body: text(`m${i}`) },
          { 'idempotency-key': `k${i}` },
        );
      // One send at a time, each to a conversation of its own (no group waits on another's conversation
      // lock): each becomes a group of its own, which does all its writes and then waits for the counter.
      const answers = [];
      for (let i = 0; i < 3; i++) {
        answers.push(send(i));
        await waitFor(async () => (await waiting()).length === i + 1);
      }
      expect(new Set(await waiting()).size).toBe(3);
      // With every slot busy, five more sends queue in the instance instead of taking connections.
      for (let i = 3; i < 8; i++) answers.push(send(i));
      await waitFor(async () => (await metric('oncely_group_commit_queued')) === 5);
      expect(await waiting()).toHaveLength(3);

      await holder.query('rollback');
      const statuses = (await Promise.all(answers)).map((a) => a.status);
      expect(statuses).toEqual(Array(8).fill(201));
    } finally {
      await holder.end();
      await observer.end();
    }
    // Four groups: the three that waited, then the five queued sends as one.
    expect((await metric('oncely_group_commit_size_count')) - groupsBefore).toBe(4);
    expect(await metric('oncely_group_commit_queued')).toBe(0);
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    try {
      const { rows } = await c.query<{ n: string; max: string }>(
        'select count(*) as n, max(pos) as max from events',
      );
      expect(Number(rows[0]!.max)).toBe(Number(rows[0]!.n));
    } finally {
      await c.end();
    }
  });
});
