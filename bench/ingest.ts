// `npm run bench -- ingest [--messages N] [--connections C] [--repeat 0.3] [--durability full|normal] [--rounds 3]
//  [--auth user|app] [--store sqlite|postgres] [--pool N] [--in-flight N] [--profile DIR]` (DIR receives a V8
//  CPU profile of each oncely process) [--instances N] (oncely as 1 and as N instances on PostgreSQL + Redis
//  instead of the ceilings: bench/_instances.ts)
// Sends N messages over HTTP (a share of them repeats of earlier Idempotency-Keys) with user tokens (or the
// app's API key) to oncely, and in the same run the same load to two ceilings: a bare Fastify JSON echo route,
// and the bare send route (oncely's schemas, no auth, no storage). Servers and load generator each run in
// their own process. Prints msgs/s and p50/p99 latency of each and oncely's ratio to both.
// With `--store postgres` the same load also goes to oncely on a PostgreSQL of the bench's own (fsync on,
// synchronous_commit on), beside oncely on SQLite, and the same rows are written straight through `pg`
// (bench/_pg-ceiling.ts) as the database's own ceiling; it prints PostgreSQL's costliest statements and how
// long transactions held the stream counter.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { LoadPlan, LoadResult } from './_load.js';
import { ingestInstances } from './_instances.js';
import { histogramQuantile, startBenchPostgres, type BenchPostgres } from './_postgres.js';
import {
  adminToken,
  call,
  counter,
  cpuMs,
  createBenchApp,
  median,
  startOncelyProcess,
  startScript,
  type OncelyProcess,
} from './_processes.js';

const conversations = 32;

interface Options {
  messages: number;
  connections: number;
  repeat: number;
  durability: 'full' | 'normal';
  warmup: number;
  rounds: number;
  auth: 'user' | 'app';
  store: 'sqlite' | 'postgres';
  /** ONCELY_DATABASE_POOL_MAX of oncely on PostgreSQL. */
  pool: string | undefined;
  /** ONCELY_GROUP_COMMIT_IN_FLIGHT of every oncely (SQLite caps it at 1). */
  inFlight: string | undefined;
  /** Instead of the ceilings: oncely as 1 and as N instances on PostgreSQL + Redis (bench/_instances.ts). */
  instances: number | undefined;
  profile: string | undefined;
}

function options(args: string[]): Options {
  const { values } = parseArgs({
    args,
    options: {
      messages: { type: 'string', default: '20000' },
      connections: { type: 'string', default: '64' },
      repeat: { type: 'string', default: '0.3' },
      durability: { type: 'string', default: 'full' },
      warmup: { type: 'string', default: '3000' },
      profile: { type: 'string' },
      rounds: { type: 'string', default: '3' },
      auth: { type: 'string', default: 'user' },
      store: { type: 'string', default: 'sqlite' },
      pool: { type: 'string' },
      'in-flight': { type: 'string' },
      instances: { type: 'string' },
    },
  });
  const { durability, auth, store } = values;
  if (durability !== 'full' && durability !== 'normal') throw new Error('--durability is full or normal');
  if (auth !== 'user' && auth !== 'app') throw new Error('--auth is user or app');
  if (store !== 'sqlite' && store !== 'postgres') throw new Error('--store is sqlite or postgres');
  return {
    messages: Number(values.messages),
    connections: Number(values.connections),
    repeat: Number(values.repeat),
    durability,
    warmup: Number(values.warmup),
    profile: values.profile,
    rounds: Number(values.rounds),
    auth,
    store,
    pool: values.pool,
    inFlight: values['in-flight'],
    instances: values.instances === undefined ? undefined : Number(values.instances),
  };
}

/** Keys in send order: a `repeat` share of them are earlier keys sent again. */
function planKeys(prefix: string, n: number, repeat: number): { keys: string[]; distinct: number } {
  const keys: string[] = [];
  let distinct = 0;
  for (let i = 0; i < n; i++) {
    if (distinct > 0 && Math.random() < repeat)
      keys.push(`${prefix}-${Math.floor(Math.random() * distinct)}`);
    else keys.push(`${prefix}-${distinct++}`);
  }
  return { keys, distinct };
}

/** Runs `script` on a plan passed through a file (many keys are more than a command line may hold). */
async function runPlanned(script: string, plan: unknown): Promise<LoadResult> {
  const dir = mkdtempSync(join(tmpdir(), 'oncely-load-'));
  const file = join(dir, 'plan.json');
  writeFileSync(file, JSON.stringify(plan));
  try {
    const load = startScript([script, file]);
    return JSON.parse(await load.firstLine) as LoadResult;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const runLoad = (plan: LoadPlan) => runPlanned('bench/_load.ts', plan);

interface Measured extends LoadResult {
  /** CPU time the server process spent per request (user + system). */
  cpuUsPerRequest: number;
  /** Of it, the server's main thread (the event loop): the one thread every request passes through. */
  mainUsPerRequest: number;
  /** Cores the whole machine kept busy meanwhile (every process: the load generator, others' jobs). */
  machineCores: number;
}

/** The machine's busy CPU time so far (every core, every process), in ticks of 10 ms (Linux /proc/stat; NaN elsewhere). */
function machineBusyTicks(): number {
  try {
    const fields = readFileSync('/proc/stat', 'utf8')
      .split('\n')[0]!
      .trim()
      .split(/\s+/)
      .slice(1)
      .map(Number);
    // Every state but idle and iowait.
    return fields.reduce((a, b) => a + b, 0) - fields[3]! - fields[4]!;
  } catch {
    return Number.NaN;
  }
}

/** Runs a load and adds the server's CPU time per request: a figure that other load on the machine barely moves. */
async function measured(pid: number | undefined, run: () => Promise<LoadResult>): Promise<Measured> {
  const mainThread = `${pid}/task/${pid}`;
  const before = cpuMs(pid);
  const mainBefore = cpuMs(mainThread);
  const machineBefore = machineBusyTicks();
  const started = performance.now();
  const result = await run();
  const machineCores = ((machineBusyTicks() - machineBefore) * 10) / (performance.now() - started);
  return {
    ...result,
    machineCores,
    cpuUsPerRequest: ((cpuMs(pid) - before) * 1000) / result.requests,
    mainUsPerRequest: ((cpuMs(mainThread) - mainBefore) * 1000) / result.requests,
  };
}

function describe(r: Measured): string {
  const rate = r.requests / r.seconds;
  // The raw inserts have no server process of their own to measure.
  const cpu = Number.isNaN(r.cpuUsPerRequest) ? '   –' : r.cpuUsPerRequest.toFixed(0).padStart(4);
  const main = Number.isNaN(r.mainUsPerRequest) ? '' : ` (main thread ${r.mainUsPerRequest.toFixed(0)})`;
  const machine = Number.isNaN(r.machineCores) ? '' : `   machine ${r.machineCores.toFixed(2)} cores busy`;
  return `${rate.toFixed(0).padStart(7)} msgs/s   p50 ${String(r.p50).padStart(4)} ms   p99 ${String(r.p99).padStart(4)} ms   server CPU ${cpu} µs/request${main}${machine}   statuses ${JSON.stringify(r.statuses)}`;
}

const rate = (r: LoadResult) => r.requests / r.seconds;

/** A user token per conversation's sender, so that each request is that user's own send. */
async function withTokens(
  url: string,
  setup: { apiKey: string; conversations: Array<{ id: string; from: string }> },
): Promise<{ apiKey: string; conversations: Array<{ id: string; from: string; token: string }> }> {
  const conversations = [];
  for (const c of setup.conversations) {
    const { token } = await call<{ token: string }>(url, setup.apiKey, 'POST', `/v1/users/${c.from}/tokens`, {
      ttlSeconds: 3600,
    });
    conversations.push({ ...c, token });
  }
  return { apiKey: setup.apiKey, conversations };
}

interface Target {
  name: string;
  server: OncelyProcess;
  setup: { apiKey: string; conversations: LoadPlan['conversations'] };
  runs: Measured[];
}

function summary(name: string, rs: Measured[]): string {
  const cpu = median(rs.map((r) => r.cpuUsPerRequest));
  const main = median(rs.map((r) => r.mainUsPerRequest));
  return (
    `${name} median ${median(rs.map(rate)).toFixed(0)} msgs/s, p50 ${median(rs.map((r) => r.p50))} ms, ` +
    `p99 ${median(rs.map((r) => r.p99))} ms` +
    (Number.isNaN(cpu) ? '' : `, server CPU ${cpu.toFixed(0)} µs/request (main thread ${main.toFixed(0)})`)
  );
}

const ms = (seconds: number) => `${(seconds * 1000).toFixed(2)} ms`;

/**
 * What oncely's own metrics say about the measured rounds (`seconds` long in all): stored messages, group
 * sizes, counter hold.
 */
function report(name: string, before: string, after: string, distinct: number, seconds: number): void {
  const delta = (metric: string) => counter(after, metric) - counter(before, metric);
  const created = delta('oncely_messages_created_total');
  console.log(
    `${name}: stored ${created} messages for ${distinct} distinct keys, answered ${delta('oncely_duplicates_total')} repeats`,
  );
  if (created !== distinct) console.log(`WARNING: ${name} stored messages differ from distinct keys`);
  const groups = delta('oncely_group_commit_size_count');
  console.log(
    `${name}: group commit: ${groups} transactions, ` +
      `${(delta('oncely_group_commit_size_sum') / groups).toFixed(1)} sends per transaction on average`,
  );
  const hold = 'oncely_store_counter_hold_seconds';
  const held = delta(`${hold}_count`);
  if (held > 0) {
    console.log(
      `${name}: stream counter held ${ms(delta(`${hold}_sum`) / held)} mean, ` +
        `p50 ${ms(histogramQuantile(before, after, hold, 0.5))}, p99 ${ms(histogramQuantile(before, after, hold, 0.99))} ` +
        `over ${held} transactions; held ${((delta(`${hold}_sum`) / seconds) * 100).toFixed(0)} % of the ` +
        `rounds' time (a lock: never more than 100 %)`,
    );
  }
}

export default async function ingest(args: string[]): Promise<void> {
  const o = options(args);
  if (o.instances !== undefined)
    return ingestInstances({ ...o, instances: o.instances }, { planKeys, withTokens });
  console.log(
    `ingest: ${o.messages} messages per round (${Math.round(o.repeat * 100)} % repeated keys), ${o.connections} ` +
      `connections, ${o.auth === 'user' ? 'user tokens' : 'app API key'}, durability ${o.durability}, ` +
      `${o.rounds} rounds, ${o.warmup} warm-up requests each` +
      (o.inFlight ? `, ONCELY_GROUP_COMMIT_IN_FLIGHT=${o.inFlight}` : ''),
  );
  const env = {
    ONCELY_DURABILITY: o.durability,
    ...(o.inFlight ? { ONCELY_GROUP_COMMIT_IN_FLIGHT: o.inFlight } : {}),
  };
  // The ceilings: the same requests to a bare Fastify echo route, and to the bare send route (oncely's
  // schemas, no auth or storage).
  const ceilings = [
    { name: 'fastify echo', child: startScript(['bench/_echo-server.ts']) },
    { name: 'bare route  ', child: startScript(['bench/_echo-server.ts', 'bare']) },
  ];
  const servers: Array<{ name: string; server: OncelyProcess }> = [];
  let pg: BenchPostgres | undefined;
  try {
    servers.push({
      name: o.store === 'postgres' ? 'oncely sqlite  ' : 'oncely      ',
      server: await startOncelyProcess(env, o.profile),
    });
    let rawUrl: string | undefined;
    if (o.store === 'postgres') {
      pg = await startBenchPostgres();
      console.log(`PostgreSQL (its own server, temp dir): ${await pg.settings()}`);
      const url = await pg.createDatabase('oncely');
      rawUrl = await pg.createDatabase('raw');
      servers.push({
        name: 'oncely postgres',
        server: await startOncelyProcess(
          { ...env, ONCELY_DATABASE_URL: url, ...(o.pool ? { ONCELY_DATABASE_POOL_MAX: o.pool } : {}) },
          o.profile,
        ),
      });
    }
    const ceilingUrls = await Promise.all(
      ceilings.map(
        async (c) => `http://127.0.0.1:${(JSON.parse(await c.child.firstLine) as { port: number }).port}`,
      ),
    );
    const ceilingSetup = {
      apiKey: 'none',
      conversations: Array.from({ length: conversations }, (_, i) => ({ id: `c${i}`, from: `u${2 * i}` })),
    };
    const targets: Target[] = [];
    for (const { name, server } of servers) {
      const app = await createBenchApp(server.url, conversations);
      targets.push({
        name,
        server,
        setup: o.auth === 'user' ? await withTokens(server.url, app) : app,
        runs: [],
      });
    }
    const raw = (keys: string[]) =>
      runPlanned('bench/_pg-ceiling.ts', {
        databaseUrl: rawUrl,
        connections: o.connections,
        keys,
        conversations: ceilingSetup.conversations,
      });

    const warm = planKeys('warm', o.warmup, o.repeat).keys;
    for (const ceilingUrl of ceilingUrls) {
      await runLoad({ url: ceilingUrl, connections: o.connections, keys: warm, ...ceilingSetup });
    }
    for (const t of targets)
      await runLoad({ url: t.server.url, connections: o.connections, keys: warm, ...t.setup });
    if (rawUrl) await raw(warm);

    // Rounds alternate between the servers, so that load from elsewhere on the machine hits all alike.
    const ceilingRuns: Measured[][] = ceilings.map(() => []);
    const rawRuns: Measured[] = [];
    let distinct = 0;
    const before = await Promise.all(
      targets.map((t) => call<string>(t.server.url, adminToken, 'GET', '/metrics')),
    );
    await pg?.resetStatements();
    for (let round = 0; round < o.rounds; round++) {
      const plan = planKeys(`r${round}`, o.messages, o.repeat);
      distinct += plan.distinct;
      for (const [i, c] of ceilings.entries()) {
        const run = await measured(c.child.process.pid, () =>
          runLoad({ url: ceilingUrls[i]!, connections: o.connections, keys: plan.keys, ...ceilingSetup }),
        );
        console.log(`${i === 0 ? `round ${round + 1}` : '       '}  ${c.name}    ${describe(run)}`);
        ceilingRuns[i]!.push(run);
      }
      if (rawUrl) {
        const run = await measured(undefined, () => raw(plan.keys));
        console.log(`         raw pg inserts  ${describe(run)}`);
        rawRuns.push(run);
      }
      for (const t of targets) {
        const run = await measured(t.server.pid, () =>
          runLoad({ url: t.server.url, connections: o.connections, keys: plan.keys, ...t.setup }),
        );
        console.log(`         ${t.name} ${describe(run)}`);
        t.runs.push(run);
      }
    }
    for (const [i, t] of targets.entries()) {
      report(
        t.name.trim(),
        before[i]!,
        await call<string>(t.server.url, adminToken, 'GET', '/metrics'),
        distinct,
        t.runs.reduce((sum, r) => sum + r.seconds, 0),
      );
    }
    if (pg) {
      // The hold seen by the server: the statement that takes the counter (it is the last), and the WAL
      // flush of the COMMIT after it; oncely's figure adds the round trip between them and ends only when
      // its event loop reads the COMMIT's answer.
      const insert = await pg.statementMeanMs('oncely', 'with counter as');
      const wal = await pg.walSyncs();
      console.log(
        `PostgreSQL, server side: the counter's statement ${insert.toFixed(2)} ms mean, a WAL flush ` +
          `${wal.meanMs.toFixed(2)} ms mean (${wal.syncs} flushes, all databases)`,
      );
      console.log(
        "PostgreSQL, the statements of oncely's database that took the most time (pg_stat_statements):",
      );
      for (const line of await pg.topStatements('oncely')) console.log(`  ${line}`);
    }

    for (const [i, c] of ceilings.entries()) console.log(summary(`${c.name} (ceiling)`, ceilingRuns[i]!));
    if (rawRuns.length > 0) console.log(summary('raw pg inserts (database ceiling)', rawRuns));
    for (const t of targets) console.log(summary(t.name, t.runs));
    const ratio = (a: Measured[], b: Measured[]) =>
      `${((median(a.map(rate)) / median(b.map(rate))) * 100).toFixed(0)} %`;
    for (const t of targets) {
      for (const [i, c] of ceilings.entries()) {
        console.log(
          `ratio to ${c.name.trim()}: ${t.name.trim()} reaches ${ratio(t.runs, ceilingRuns[i]!)} of its msgs/s ` +
            `(durability ${o.durability}; goal ≥ 60 % of the bare route at full)`,
        );
      }
    }
    const [sqlite, postgres] = targets;
    if (postgres && sqlite) {
      console.log(
        `ratio to raw pg inserts: oncely postgres reaches ${ratio(postgres.runs, rawRuns)} of their msgs/s`,
      );
      console.log(
        `ratio to SQLite: oncely postgres reaches ${ratio(postgres.runs, sqlite.runs)} of oncely sqlite's msgs/s ` +
          `(durability ${o.durability}; goal ≥ 50 % at full, synchronous_commit=on)`,
      );
    }
  } finally {
    await Promise.all([...servers.map((s) => s.server.stop()), ...ceilings.map((c) => c.child.stop())]);
    await pg?.destroy();
  }
}
