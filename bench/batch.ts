// `npm run bench -- batch [--items 20000] [--sizes 100,1000] [--concurrency 4] [--durability full|normal]
//  [--profile DIR]` (DIR receives a V8 CPU profile of the oncely process)
// Items/s of `POST /v1/messages/batch` at each batch size, oncely in its own process, and in the same run the
// baseline: raw better-sqlite3 inserts of the same rows (an event and its key row per item) on oncely's schema,
// one transaction per batch, same WAL and sync setting, in this process — the storage floor without HTTP,
// JSON or checks.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import BetterSqlite3 from 'better-sqlite3';
import { createSqliteStore } from '../src/store/sqlite/sqlite-store.js';
import { adminToken, call, counter, cpuMs, createBenchApp, startOncelyProcess } from './_processes.js';

const groups = 32;

function options(args: string[]) {
  const { values } = parseArgs({
    args,
    options: {
      items: { type: 'string', default: '20000' },
      sizes: { type: 'string', default: '100,1000' },
      concurrency: { type: 'string', default: '4' },
      durability: { type: 'string', default: 'full' },
      profile: { type: 'string' },
    },
  });
  if (values.durability !== 'full' && values.durability !== 'normal')
    throw new Error('--durability is full or normal');
  return {
    items: Number(values.items),
    sizes: values.sizes.split(',').map(Number),
    concurrency: Number(values.concurrency),
    durability: values.durability,
    profile: values.profile,
  };
}

interface Run {
  itemsPerSecond: number;
  p50: number;
  p99: number;
  /** CPU per item: oncely's process, and of it its main thread (the event loop); raw's own process. */
  cpuUsPerItem?: number;
  mainThreadUsPerItem?: number;
}

const percentile = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))]!;

/** Sends `bodies` with `concurrency` requests in flight. */
async function sendAll(
  url: string,
  apiKey: string,
  bodies: string[],
  concurrency: number,
  itemsEach: number,
): Promise<Run> {
  let next = 0;
  const latencies: number[] = [];
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < bodies.length) {
        const body = bodies[next++]!;
        const t = performance.now();
        const res = await fetch(`${url}/v1/messages/batch`, {
          method: 'POST',
          headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
          body,
        });
        const answer = (await res.json()) as { summary?: { created: number } };
        if (res.status !== 200 || answer.summary?.created !== itemsEach) {
          throw new Error(`batch failed: ${res.status} ${JSON.stringify(answer).slice(0, 300)}`);
        }
        latencies.push(performance.now() - t);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  return {
    itemsPerSecond: (bodies.length * itemsEach) / seconds,
    p50: Math.round(percentile(latencies, 0.5)),
    p99: Math.round(percentile(latencies, 0.99)),
  };
}

/**
 * The same rows written straight through better-sqlite3: one transaction per batch, on oncely's own schema
 * (its migrations, so every index a message write maintains is there).
 */
async function baseline(durability: string, batches: number, size: number): Promise<Run> {
  const dir = mkdtempSync(join(tmpdir(), 'oncely-bench-raw-'));
  const file = join(dir, 'raw.db');
  const schema = createSqliteStore({ filename: file, durability: 'normal' });
  await schema.migrate();
  await schema.close();
  const db = new BetterSqlite3(file);
  try {
    db.pragma('journal_mode = WAL');
    db.pragma(`synchronous = ${durability === 'full' ? 'FULL' : 'NORMAL'}`);
    const insertKey = db.prepare(
      'insert into idempotency_keys (app_id, scope, key, fingerprint, result, created_at, expires_at) values (?, ?, ?, ?, ?, ?, ?)',
    );
    const insertEvent = db.prepare(
      'insert into events (id, app_id, conversation_id, seq, pos, type, sender_id, body, created_at) values (?, ?, ?, ?, ?, ?, ?, ?, ?)',
    );
    const seqs = new Array<number>(groups).fill(0);
    let pos = 0;
    const latencies: number[] = [];
    const cpuBefore = process.cpuUsage();
    const started = performance.now();
    for (let b = 0; b < batches; b++) {
      const t = performance.now();
      db.transaction(() => {
        for (let i = 0; i < size; i++) {
          const g = i % groups;
          const now = Date.now();
          const id = `${b}-${i}`;
          insertKey.run('app', 'app', `k-${id}`, 'fp', `{"id":"${id}"}`, now, now + 604800000);
          insertEvent.run(
            `e-${id}`,
            'app',
            `g${g}`,
            ++seqs[g]!,
            ++pos,
            'message.created',
            'u0',
            `{"type":"text","text":"item ${id}"}`,
            now,
          );
        }
      })();
      latencies.push(performance.now() - t);
    }
    const seconds = (performance.now() - started) / 1000;
    const cpu = process.cpuUsage(cpuBefore);
    return {
      itemsPerSecond: (batches * size) / seconds,
      p50: Math.round(percentile(latencies, 0.5)),
      p99: Math.round(percentile(latencies, 0.99)),
      cpuUsPerItem: (cpu.user + cpu.system) / (batches * size),
    };
  } finally {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The CPU of one thread of `pid` so far (its main thread when `tid` is the pid), ms. */
function threadCpuMs(pid: number | undefined, tid: number | undefined): number {
  try {
    const fields = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    // utime and stime are fields 14 and 15 of stat, in clock ticks of 10 ms.
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return Number.NaN;
  }
}

const show = (r: Run) =>
  `${r.itemsPerSecond.toFixed(0).padStart(7)} items/s   batch p50 ${String(r.p50).padStart(4)} ms   p99 ${String(r.p99).padStart(4)} ms` +
  `   CPU ${r.cpuUsPerItem!.toFixed(1).padStart(5)} µs/item` +
  (r.mainThreadUsPerItem === undefined ? '' : ` (main thread ${r.mainThreadUsPerItem.toFixed(1)})`);

export default async function batch(args: string[]): Promise<void> {
  const o = options(args);
  console.log(
    `batch: ${o.items} new items per batch size, ${o.concurrency} batches in flight, durability ${o.durability}`,
  );
  const server = await startOncelyProcess({ ONCELY_DURABILITY: o.durability }, o.profile);
  try {
    const { url } = server;
    const { apiKey, conversations: convs } = await createBenchApp(url, groups);
    const bodies = (prefix: string, size: number, count: number) =>
      Array.from({ length: count }, (_, b) =>
        JSON.stringify({
          items: Array.from({ length: size }, (_, i) => {
            const conv = convs[i % groups]!;
            return {
              idempotencyKey: `${prefix}-${b}-${i}`,
              from: conv.from,
              conversationId: conv.id,
              body: { type: 'text', text: `item ${prefix}-${b}-${i}` },
            };
          }),
        }),
      );
    // Warm-up: both code paths and the JIT.
    await sendAll(url, apiKey, bodies('warm', 100, 20), o.concurrency, 100);

    for (const size of o.sizes) {
      const batches = Math.max(1, Math.round(o.items / size));
      const before = await call<string>(url, adminToken, 'GET', '/metrics');
      const sending = bodies(`s${size}`, size, batches);
      const [cpu, main] = [cpuMs(server.pid), threadCpuMs(server.pid, server.pid)];
      const oncely = await sendAll(url, apiKey, sending, o.concurrency, size);
      oncely.cpuUsPerItem = ((cpuMs(server.pid) - cpu) * 1000) / (batches * size);
      oncely.mainThreadUsPerItem = ((threadCpuMs(server.pid, server.pid) - main) * 1000) / (batches * size);
      const after = await call<string>(url, adminToken, 'GET', '/metrics');
      const created =
        counter(after, 'oncely_batch_items_total', { status: 'created' }) -
        counter(before, 'oncely_batch_items_total', { status: 'created' });
      const raw = await baseline(o.durability, batches, size);
      console.log(`size ${String(size).padStart(5)}  oncely        ${show(oncely)}   (${created} created)`);
      console.log(`             raw sqlite    ${show(raw)}`);
      console.log(
        `             ratio: oncely reaches ${((oncely.itemsPerSecond / raw.itemsPerSecond) * 100).toFixed(0)} % of raw inserts; ` +
          `goal ≥ 40,000 items/s at 1,000 per batch: ${oncely.itemsPerSecond >= 40000 ? 'met' : 'not met'}`,
      );
    }
  } finally {
    await server.stop();
  }
}
