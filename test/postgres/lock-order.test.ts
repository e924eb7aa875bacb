// The lock order of src/store/store.ts under load: two instances on one database run batches that span the
// same conversations and claim the same keys in opposite orders, recalls, repeated recalls and single sends,
// all at once. Were any two of them to take their locks in different orders, PostgreSQL would find the cycle
// and abort one of them (SQLSTATE 40P01, a 500). Runs in the postgres project only.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  client,
  createApp,
  dropDatabase,
  startServer,
  tempDir,
  text,
  waitFor,
  type Client,
  type TestApp,
  type TestServer,
} from '../harness.js';
import { databaseUrl } from '../test-store.js';

const dir = tempDir('oncely-pg-lock-order-');
let url: string;
let servers: TestServer[] = [];

beforeAll(async () => {
  url = await databaseUrl(dir);
  const env = { ONCELY_DATABASE_URL: url, ONCELY_RECALL_WINDOW_SECONDS: '0' };
  servers = await Promise.all([1, 2].map(() => startServer(env)));
});
afterAll(async () => {
  await Promise.all(servers.map((s) => s.stop()));
  await dropDatabase(dir);
});

async function query<T extends pg.QueryResultRow>(text: string, values: unknown[] = []): Promise<T[]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query<T>(text, values)).rows;
  } finally {
    await c.end();
  }
}

interface Item {
  idempotencyKey: string;
  from: string;
  conversationId: string;
  body: unknown;
}

describe('lock order', () => {
  it('batches in opposite orders, recalls and sends on two instances never deadlock', async () => {
    const app: TestApp = await createApp(servers[0]!.url);
    const apis: Client[] = servers.map((s) => client(s.url, app.apiKey));
    const convs: string[] = [];
    for (let i = 0; i < 8; i++) convs.push(await app.group(['alice', 'bob']));
    const ascending = [...convs].sort();
    const descending = [...ascending].reverse();

    // Messages to recall later: 5 in each conversation.
    const seeded = await app.api.post('/v1/messages/batch', {
      items: convs.flatMap((c, i) =>
        Array.from({ length: 5 }, (_, j) => ({
          idempotencyKey: `seed-${i}-${j}`,
          from: 'alice',
          conversationId: c,
          body: text(`seed ${i}.${j}`),
        })),
      ),
    });
    expect(seeded.status).toBe(200);
    const toRecall = (seeded.body.results as Array<{ messageId: string }>).map((r) => r.messageId);

    // Each batch writes to every conversation, in ascending or descending order of conversation id, and
    // claims 16 keys shared by every batch (same payloads) in that order too, plus 16 keys of its own.
    const shared = (c: string, n: number): Item => ({
      idempotencyKey: `shared-${c}-${n}`,
      from: 'alice',
      conversationId: c,
      body: text(`shared ${n}`),
    });
    const batches = Array.from({ length: 16 }, (_, b) => {
      const order = b % 2 === 0 ? ascending : descending;
      const items: Item[] = order.flatMap((c) => [
        shared(c, 0),
        shared(c, 1),
        { idempotencyKey: `own-${b}-${c}-0`, from: 'bob', conversationId: c, body: text(`own ${b}`) },
        { idempotencyKey: `own-${b}-${c}-1`, from: 'bob', conversationId: c, body: text(`own ${b}`) },
      ]);
      return () => apis[b % 2]!.post('/v1/messages/batch', { items });
    });
    // Key racers: pairs of batches on disjoint halves of the conversations (so they never wait on a
    // conversation) that claim the same 400 keys, one in ascending and the other in descending item order
    // (enough keys that the two claims overlap).
    // Each key is written once, by one of the pair; the other's items of it fail as reused keys.
    const racers = Array.from({ length: 8 }, (_, b) => {
      const half = b % 2 === 0 ? ascending.slice(0, 4) : ascending.slice(4);
      const keys = Array.from({ length: 400 }, (_, k) => k);
      const items: Item[] = (b % 2 === 0 ? keys : keys.reverse()).map((k) => ({
        idempotencyKey: `race-${Math.floor(b / 2)}-${String(k).padStart(3, '0')}`,
        from: 'alice',
        conversationId: half[k % 4]!,
        body: text(`race ${k}`),
      }));
      return () => apis[b % 2]!.post('/v1/messages/batch', { items });
    });
    // Every seeded message recalled twice, once through each instance: one message.recalled each.
    const recalls = toRecall.flatMap((id, i) => [
      () => apis[i % 2]!.post(`/v1/messages/${id}/recall`),
      () => apis[(i + 1) % 2]!.post(`/v1/messages/${id}/recall`),
    ]);
    const sends = Array.from(
      { length: 32 },
      (_, i) => () =>
        apis[i % 2]!.post(
          `/v1/conversations/${convs[i % convs.length]}/messages`,
          { from: 'bob', body: text(`single ${i}`) },
          { 'idempotency-key': `single-${i}` },
        ),
    );
    // Interleaved, so that every kind runs beside every other.
    const work = [...batches, ...racers, ...recalls, ...sends].sort(() => Math.random() - 0.5);
    const answers = await Promise.all(work.map((w) => w()));

    const statuses = answers.map((a) => a.status);
    expect(statuses.filter((s) => s !== 200 && s !== 201)).toEqual([]);
    const failures = answers.flatMap((a) =>
      ((a.body?.results ?? []) as Array<{ idempotencyKey: string; error?: { code: string } }>).flatMap((r) =>
        r.error ? [`${r.idempotencyKey.slice(0, 5)} ${r.error.code}`] : [],
      ),
    );
    expect(new Set(failures)).toEqual(new Set(['race- idempotency_key_reused']));

    // Counts: one message per distinct key, one message.recalled per recalled message, seqs gapless in
    // each conversation and positions gapless over the database.
    const [counts] = await query<{ created: string; recalled: string; subjects: string }>(
      `select count(*) filter (where type = 'message.created') as created,
              count(*) filter (where type = 'message.recalled') as recalled,
              count(distinct subject_id) filter (where type = 'message.recalled') as subjects
       from events where app_id = $1`,
      [app.appId],
    );
    expect(Number(counts!.created)).toBe(8 * 5 + 8 * 2 + 16 * 8 * 2 + 4 * 400 + 32);
    expect(Number(counts!.recalled)).toBe(toRecall.length);
    expect(Number(counts!.subjects)).toBe(toRecall.length);
    const gaps = await query<{ conversation_id: string }>(
      `select conversation_id from events where app_id = $1 group by conversation_id
       having min(seq) <> 1 or max(seq) <> count(*) or count(distinct seq) <> count(*)`,
      [app.appId],
    );
    expect(gaps).toEqual([]);
    const [pos] = await query<{ n: string; max: string }>(
      'select count(*) as n, max(pos) as max from events',
    );
    expect(Number(pos!.max)).toBe(Number(pos!.n));

    // PostgreSQL counts the deadlocks it broke, retried ones included (a failed group commit is retried
    // send by send and would hide one). A backend's counts reach the statistics at the latest when it
    // exits: close both instances and wait for their connections to end first.
    await Promise.all(servers.map((s) => s.stop()));
    servers = [];
    await waitFor(
      async () =>
        (
          await query<{ n: string }>(
            'select count(*) as n from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()',
          )
        )[0]!.n === '0',
    );
    const [stats] = await query<{ deadlocks: string }>(
      'select deadlocks from pg_stat_database where datname = current_database()',
    );
    expect(Number(stats!.deadlocks)).toBe(0);
  });
});
