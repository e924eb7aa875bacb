// The `--instances N` runs of `fanout` and `ingest`: oncely as one instance and as N instances, both on one
// PostgreSQL of the bench's own (durable: fsync and synchronous_commit on) and one Redis, in the same run and
// with the same load, rounds alternating between them. The one instance is the baseline; the figure is the
// ratio. Every instance, the database, Redis and the load generators are processes of their own.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRedis, type TestBroker } from '../test/brokers.js';
import type { FanoutPlan, FanoutResult } from './_fanout-clients.js';
import type { LoadPlan, LoadResult } from './_load.js';
import { startBenchPostgres, type BenchPostgres } from './_postgres.js';
import {
  adminToken,
  call,
  counter,
  createBenchApp,
  median,
  startOncelyProcess,
  startScript,
  type OncelyProcess,
} from './_processes.js';

/** Instances sharing one database (and the Redis). */
interface Cluster {
  name: string;
  servers: OncelyProcess[];
}

interface Deployment {
  clusters: Cluster[];
  stop(): Promise<void>;
}

/** One instance and N, each set on a database of its own on one PostgreSQL server, sharing one Redis. */
async function deploy(n: number, env: Record<string, string>): Promise<Deployment> {
  let pg: BenchPostgres | undefined;
  let redis: TestBroker | undefined;
  const clusters: Cluster[] = [];
  const stop = async () => {
    await Promise.all(clusters.flatMap((c) => c.servers.map((s) => s.stop())));
    await redis?.destroy();
    await pg?.destroy();
  };
  try {
    pg = await startBenchPostgres();
    redis = await startRedis({ fsync: 'everysec' });
    console.log(`PostgreSQL (its own server, temp dir): ${await pg.settings()}; Redis ${redis.url}`);
    for (const count of [1, n]) {
      const shared = {
        ...env,
        ONCELY_DATABASE_URL: await pg.createDatabase(`oncely_${count}`),
        ONCELY_REDIS_URL: redis.url,
      };
      const script = { script: ['bench/_oncely-server.ts'] };
      // The first migrates the database; the others then find it ready.
      const first = await startOncelyProcess(shared, undefined, script);
      const rest = await Promise.all(
        Array.from({ length: count - 1 }, () => startOncelyProcess(shared, undefined, script)),
      );
      clusters.push({ name: `${count} instance${count > 1 ? 's' : ' '}`, servers: [first, ...rest] });
    }
    return { clusters, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

const urls = (c: Cluster) => c.servers.map((s) => s.url);

function writePlan(dir: string, name: string, plan: unknown): string {
  const file = join(dir, name);
  writeFileSync(file, JSON.stringify(plan));
  return file;
}

// ---- fanout ----

export interface FanoutInstancesOptions {
  instances: number;
  clients: number;
  group: number;
  rates: number[];
  seconds: number;
  durability: string;
}

/** Users, groups and tokens on the cluster's first instance; the clients spread over its instances. */
async function fanoutPlan(c: Cluster, clients: number, group: number): Promise<FanoutPlan['clients']> {
  const url = urls(c)[0]!;
  const app = await call<{ apiKey: string }>(url, adminToken, 'POST', '/v1/apps', { name: 'fanout' });
  const plan: FanoutPlan['clients'] = [];
  for (let g = 0; g * group < clients; g++) {
    const members = Array.from(
      { length: Math.min(group, clients - g * group) },
      (_, i) => `u${g * group + i}`,
    );
    await Promise.all(members.map((u) => call(url, app.apiKey, 'PUT', `/v1/users/${u}`, {})));
    const conv = await call<{ id: string }>(url, app.apiKey, 'POST', '/v1/conversations', {
      kind: 'group',
      members,
    });
    const tokens = await Promise.all(
      members.map((u) =>
        call<{ token: string }>(url, app.apiKey, 'POST', `/v1/users/${u}/tokens`, { ttlSeconds: 3600 }),
      ),
    );
    // A group's members are spread over the instances: most deliveries cross Redis.
    members.forEach((_, i) =>
      plan.push({
        group: conv.id,
        token: tokens[i]!.token,
        sender: i === 0,
        url: urls(c)[(g * group + i) % c.servers.length],
      }),
    );
  }
  return plan;
}

async function runFanout(dir: string, plan: FanoutPlan): Promise<FanoutResult> {
  const clients = startScript(['bench/_fanout-clients.ts', writePlan(dir, `plan-${Date.now()}.json`, plan)]);
  try {
    await clients.nextLine('the clients');
    clients.process.stdin!.write('go\n');
    return JSON.parse(await clients.nextLine('the clients')) as FanoutResult;
  } finally {
    await clients.stop();
  }
}

export async function fanoutInstances(o: FanoutInstancesOptions): Promise<void> {
  console.log(
    `fanout --instances ${o.instances}: ${o.clients} WebSocket clients in groups of ${o.group} spread over ` +
      `the instances, ${o.rates.join(' / ')} messages/s for ${o.seconds} s per step, oncely on PostgreSQL + ` +
      `Redis, durability ${o.durability}; 1 instance (baseline) and ${o.instances}, steps alternating`,
  );
  const deployment = await deploy(o.instances, { ONCELY_DURABILITY: o.durability });
  const dir = mkdtempSync(join(tmpdir(), 'oncely-fanout-instances-'));
  try {
    const plans = new Map<Cluster, FanoutPlan['clients']>();
    for (const c of deployment.clusters) plans.set(c, await fanoutPlan(c, o.clients, o.group));
    const best = new Map<Cluster, FanoutResult>();
    const perSecond = (r: FanoutResult | undefined) => (r ? r.deliveries / r.seconds : 0);
    for (const rate of o.rates) {
      console.log(`-- ${rate} messages/s (${rate * o.group} deliveries/s offered)`);
      for (const c of deployment.clusters) {
        const r = await runFanout(dir, {
          kind: 'oncely',
          url: urls(c)[0]!,
          clients: plans.get(c)!,
          rate,
          seconds: o.seconds,
          drainMs: 5000,
        });
        console.log(
          `${c.name} ${perSecond(r).toFixed(0).padStart(7)} deliveries/s  p50 ${String(r.p50).padStart(6)} ms  ` +
            `p99 ${String(r.p99).padStart(6)} ms  max ${String(r.max).padStart(6)} ms  delivered ` +
            `${r.deliveries}/${r.expected}${r.errors ? `  errors ${r.errors}` : ''}`,
        );
        const within = r.deliveries === r.expected && r.p99 <= 100;
        if (within && perSecond(r) > perSecond(best.get(c))) best.set(c, r);
      }
    }
    const [one, many] = deployment.clusters as [Cluster, Cluster];
    const capacity = (r: FanoutResult | undefined) =>
      r ? `${perSecond(r).toFixed(0)} deliveries/s (p99 ${r.p99} ms)` : 'none';
    console.log(
      `capacity at p99 ≤ 100 ms: ${one.name.trim()} ${capacity(best.get(one))}, ${many.name.trim()} ` +
        `${capacity(best.get(many))}`,
    );
    console.log(
      `ratio: ${many.name.trim()} reach ${(perSecond(best.get(many)) / Math.max(1, perSecond(best.get(one)))).toFixed(2)}× ` +
        `the deliveries/s of 1 within the SLO (on ${availableParallelism()} cores)`,
    );
  } finally {
    await deployment.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---- ingest ----

export interface IngestInstancesOptions {
  instances: number;
  messages: number;
  connections: number;
  repeat: number;
  rounds: number;
  warmup: number;
  durability: string;
  auth: 'user' | 'app';
}

/** What `ingest` lends: its key plan and its user tokens, so both runs send alike. */
export interface IngestTools {
  planKeys(prefix: string, n: number, repeat: number): { keys: string[]; distinct: number };
  withTokens(
    url: string,
    setup: { apiKey: string; conversations: Array<{ id: string; from: string }> },
  ): Promise<{ apiKey: string; conversations: LoadPlan['conversations'] }>;
}

/**
 * One load generator per instance, at once, each with its share of the connections and of the keys (a
 * repeated key may go to another instance than its first send: it is still one message). Requests and the
 * time to the last answer add up; p50 and p99 are the worst instance's.
 */
async function runSpread(dir: string, c: Cluster, base: Omit<LoadPlan, 'url' | 'keys'>, keys: string[]) {
  const n = c.servers.length;
  const results = await Promise.all(
    c.servers.map(async (s, i) => {
      const plan: LoadPlan = {
        ...base,
        url: s.url,
        connections: Math.max(1, Math.round(base.connections / n)),
        keys: keys.filter((_, k) => k % n === i),
      };
      const load = startScript(['bench/_load.ts', writePlan(dir, `load-${i}-${Date.now()}.json`, plan)]);
      return JSON.parse(await load.firstLine) as LoadResult;
    }),
  );
  const statuses: Record<string, number> = {};
  for (const r of results)
    for (const [k, v] of Object.entries(r.statuses)) statuses[k] = (statuses[k] ?? 0) + v;
  return {
    requests: results.reduce((sum, r) => sum + r.requests, 0),
    seconds: Math.max(...results.map((r) => r.seconds)),
    p50: Math.max(...results.map((r) => r.p50)),
    p99: Math.max(...results.map((r) => r.p99)),
    statuses,
  };
}

export async function ingestInstances(o: IngestInstancesOptions, tools: IngestTools): Promise<void> {
  console.log(
    `ingest --instances ${o.instances}: ${o.messages} messages per round (${Math.round(o.repeat * 100)} % ` +
      `repeated keys), ${o.connections} connections in all, ${o.auth === 'user' ? 'user tokens' : 'app API key'}, ` +
      `oncely on PostgreSQL + Redis, durability ${o.durability}, ${o.rounds} rounds; 1 instance (baseline) ` +
      `and ${o.instances}, rounds alternating`,
  );
  const deployment = await deploy(o.instances, { ONCELY_DURABILITY: o.durability });
  const dir = mkdtempSync(join(tmpdir(), 'oncely-ingest-instances-'));
  try {
    const setups = new Map<Cluster, Omit<LoadPlan, 'url' | 'keys'>>();
    for (const c of deployment.clusters) {
      const app = await createBenchApp(urls(c)[0]!, 32);
      const setup = o.auth === 'user' ? await tools.withTokens(urls(c)[0]!, app) : app;
      setups.set(c, { ...setup, connections: o.connections });
    }
    const warm = tools.planKeys('warm', o.warmup, o.repeat).keys;
    for (const c of deployment.clusters) await runSpread(dir, c, setups.get(c)!, warm);
    const runs = new Map<Cluster, LoadResult[]>(deployment.clusters.map((c) => [c, []]));
    // Counters summed over every instance of a cluster: messages stored (each distinct key once, wherever it
    // was sent), group commits and their sizes, and how long transactions held the stream counter.
    const names = [
      'oncely_messages_created_total',
      'oncely_group_commit_size_sum',
      'oncely_group_commit_size_count',
      'oncely_store_counter_hold_seconds_sum',
      'oncely_store_counter_hold_seconds_count',
    ] as const;
    const totals = async (c: Cluster) => {
      const sums = new Map<string, number>(names.map((n) => [n, 0]));
      for (const url of urls(c)) {
        const text = await call<string>(url, adminToken, 'GET', '/metrics');
        for (const n of names) sums.set(n, sums.get(n)! + counter(text, n));
      }
      return sums;
    };
    const before = await Promise.all(deployment.clusters.map(totals));
    let distinct = 0;
    for (let round = 0; round < o.rounds; round++) {
      const plan = tools.planKeys(`r${round}`, o.messages, o.repeat);
      distinct += plan.distinct;
      for (const c of deployment.clusters) {
        const r = await runSpread(dir, c, setups.get(c)!, plan.keys);
        runs.get(c)!.push(r);
        console.log(
          `round ${round + 1}  ${c.name} ${(r.requests / r.seconds).toFixed(0).padStart(7)} msgs/s   ` +
            `p50 ${String(r.p50).padStart(4)} ms   p99 ${String(r.p99).padStart(4)} ms   statuses ${JSON.stringify(r.statuses)}`,
        );
      }
    }
    for (const [i, c] of deployment.clusters.entries()) {
      const after = await totals(c);
      const delta = (n: (typeof names)[number]) => after.get(n)! - before[i]!.get(n)!;
      const stored = delta('oncely_messages_created_total');
      const groups = delta('oncely_group_commit_size_count');
      const holds = delta('oncely_store_counter_hold_seconds_count');
      console.log(
        `${c.name.trim()}: stored ${stored} messages for ${distinct} distinct keys; ${groups} group commits of ` +
          `${(delta('oncely_group_commit_size_sum') / groups).toFixed(1)} sends on average; stream counter held ` +
          `${((delta('oncely_store_counter_hold_seconds_sum') / holds) * 1000).toFixed(2)} ms mean over ${holds} transactions`,
      );
      if (stored !== distinct)
        console.log(`WARNING: ${c.name.trim()} stored messages differ from distinct keys`);
    }
    const rate = (rs: LoadResult[]) => median(rs.map((r) => r.requests / r.seconds));
    for (const c of deployment.clusters) {
      const rs = runs.get(c)!;
      console.log(
        `${c.name.trim()}: median ${rate(rs).toFixed(0)} msgs/s, p50 ${median(rs.map((r) => r.p50))} ms, ` +
          `p99 ${median(rs.map((r) => r.p99))} ms`,
      );
    }
    const [one, many] = deployment.clusters as [Cluster, Cluster];
    console.log(
      `ratio: ${many.name.trim()} reach ${(rate(runs.get(many)!) / rate(runs.get(one)!)).toFixed(2)}× the msgs/s ` +
        `of 1 (on ${availableParallelism()} cores)`,
    );
  } finally {
    await deployment.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
