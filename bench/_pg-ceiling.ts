// The database's own ceiling for `bench/ingest.ts --store postgres`, in its own process: the rows oncely
// writes for the same plan (an event and its idempotency key per new key; nothing for a repeat) inserted
// straight through `pg` as multi-row INSERTs into oncely's schema, one transaction per group of
// `connections` sends — the most that many connections can have waiting — one at a time, as the stream
// counter lets oncely's groups commit. No HTTP, checks, seqs or counter. Reads the plan file named by
// argv[2]; prints a LoadResult as JSON.
import { createHash, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import pg from 'pg';
import { createPostgresStore } from '../src/store/postgres/postgres-store.js';
import { conversationOf, type LoadResult } from './_prepared-load.js';

interface CeilingPlan {
  databaseUrl: string;
  connections: number;
  keys: string[];
  conversations: Array<{ id: string; from: string }>;
}

const plan = JSON.parse(readFileSync(process.argv[2]!, 'utf8')) as CeilingPlan;
const store = createPostgresStore({ connectionString: plan.databaseUrl, durability: 'full', poolMax: 1 });
await store.migrate();
await store.close();

const client = new pg.Client({ connectionString: plan.databaseUrl, options: '-c synchronous_commit=on' });
await client.connect();
const start = await client.query<{ pos: string }>('select coalesce(max(pos), 0) as pos from events');
let pos = Number(start.rows[0]!.pos);
const seqs = new Map<string, number>();
for (const r of (
  await client.query<{ conversation_id: string; seq: string }>(
    'select conversation_id, max(seq) as seq from events group by conversation_id',
  )
).rows)
  seqs.set(r.conversation_id, Number(r.seq));

/** `insert into <table> values ($1, …), (…)` for `rows` of equal length. */
function insert(table: string, rows: unknown[][]): { text: string; values: unknown[] } {
  const width = rows[0]!.length;
  const tuples = rows.map(
    (_, r) => `(${Array.from({ length: width }, (_, c) => `$${r * width + c + 1}`).join(', ')})`,
  );
  return { text: `insert into ${table} values ${tuples.join(', ')}`, values: rows.flat() };
}

const seen = new Set<string>();
const latencies: number[] = [];
const startedAt = performance.now();
for (let i = 0; i < plan.keys.length; i += plan.connections) {
  const fresh = [...new Set(plan.keys.slice(i, i + plan.connections))].filter((k) => !seen.has(k));
  if (fresh.length === 0) continue;
  const t = performance.now();
  const now = Date.now();
  const keys: unknown[][] = [];
  const events: unknown[][] = [];
  for (const key of fresh) {
    seen.add(key);
    const conv = plan.conversations[conversationOf(key, plan.conversations.length)]!;
    const seq = (seqs.get(conv.id) ?? 0) + 1;
    seqs.set(conv.id, seq);
    const id = randomUUID();
    const body = { type: 'text', text: `message ${key}`.padEnd(60, '.') };
    const fingerprint = createHash('sha256').update(JSON.stringify(body)).digest('hex');
    const result = { id, conversationId: conv.id, seq, createdAt: new Date(now).toISOString() };
    keys.push([
      'bench',
      `user:${conv.from}`,
      key,
      fingerprint,
      JSON.stringify(result),
      now,
      now + 604_800_000,
    ]);
    events.push([
      id,
      'bench',
      conv.id,
      seq,
      ++pos,
      'message.created',
      conv.from,
      JSON.stringify(body),
      null,
      null,
      now,
      null,
    ]);
  }
  await client.query('begin');
  const k = insert(
    'idempotency_keys (app_id, scope, key, fingerprint, result, created_at, expires_at)',
    keys,
  );
  await client.query(k.text, k.values);
  const e = insert(
    'events (id, app_id, conversation_id, seq, pos, type, sender_id, body, client_msg_id, subject_id, created_at, recalled_at)',
    events,
  );
  await client.query(e.text, e.values);
  await client.query('commit');
  latencies.push(performance.now() - t);
}
const seconds = (performance.now() - startedAt) / 1000;
await client.end();
latencies.sort((a, b) => a - b);
const at = (q: number) =>
  Math.round(latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0);
const out: LoadResult = {
  requests: plan.keys.length,
  seconds,
  p50: at(0.5),
  p99: at(0.99),
  statuses: { transactions: latencies.length },
};
process.stdout.write(`${JSON.stringify(out)}\n`);
