// `npm run bench -- ingest [--messages N] [--connections C] [--repeat 0.3] [--durability full|normal] [--rounds 3]
//  [--auth user|app] [--profile DIR]` (DIR receives a V8 CPU profile of the oncely process)
// Sends N messages over HTTP (a share of them repeats of earlier Idempotency-Keys) with user tokens (or the
// app's API key) to oncely, and in the same run the same load to two ceilings: a bare Fastify JSON echo route,
// and the bare send route (oncely's schemas, no auth, no storage). Servers and load generator each run in
// their own process. Prints msgs/s and p50/p99 latency of each and oncely's ratio to both.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { LoadPlan, LoadResult } from './_load.js';
import {
  adminToken,
  call,
  counter,
  cpuMs,
  createBenchApp,
  median,
  startOncelyProcess,
  startScript,
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
    },
  });
  const { durability, auth } = values;
  if (durability !== 'full' && durability !== 'normal') throw new Error('--durability is full or normal');
  if (auth !== 'user' && auth !== 'app') throw new Error('--auth is user or app');
  return {
    messages: Number(values.messages),
    connections: Number(values.connections),
    repeat: Number(values.repeat),
    durability,
    warmup: Number(values.warmup),
    profile: values.profile,
    rounds: Number(values.rounds),
    auth,
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

async function runLoad(plan: LoadPlan): Promise<LoadResult> {
  // Through a file: a plan of many keys is larger than a command line may be.
  const dir = mkdtempSync(join(tmpdir(), 'oncely-load-'));
  const file = join(dir, 'plan.json');
  writeFileSync(file, JSON.stringify(plan));
  try {
    const load = startScript(['bench/_load.ts', file]);
    return JSON.parse(await load.firstLine) as LoadResult;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

interface Measured extends LoadResult {
  /** CPU time the server process spent per request (user + system). */
  cpuUsPerRequest: number;
}

/** Runs a load and adds the server's CPU time per request: a figure that other load on the machine barely moves. */
async function measured(pid: number | undefined, run: () => Promise<LoadResult>): Promise<Measured> {
  const before = cpuMs(pid);
  const result = await run();
  return { ...result, cpuUsPerRequest: ((cpuMs(pid) - before) * 1000) / result.requests };
}

function describe(r: Measured): string {
  const rate = r.requests / r.seconds;
  return `${rate.toFixed(0).padStart(7)} msgs/s   p50 ${String(r.p50).padStart(4)} ms   p99 ${String(r.p99).padStart(4)} ms   server CPU ${r.cpuUsPerRequest.toFixed(0).padStart(4)} µs/request   statuses ${JSON.stringify(r.statuses)}`;
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

export default async function ingest(args: string[]): Promise<void> {
  const o = options(args);
  console.log(
    `ingest: ${o.messages} messages per round (${Math.round(o.repeat * 100)} % repeated keys), ${o.connections} ` +
      `connections, ${o.auth === 'user' ? 'user tokens' : 'app API key'}, durability ${o.durability}, ` +
      `${o.rounds} rounds, ${o.warmup} warm-up requests each`,
  );

  const server = await startOncelyProcess({ ONCELY_DURABILITY: o.durability }, o.profile);
  const url = server.url;
  // The ceilings: the same requests to a bare Fastify echo route, and to the bare send route (oncely's
  // schemas, no auth or storage).
  const ceilings = [
    { name: 'fastify echo', child: startScript(['bench/_echo-server.ts']) },
    { name: 'bare route  ', child: startScript(['bench/_echo-server.ts', 'bare']) },
  ];
  const ceilingSetup = {
    apiKey: 'none',
    conversations: Array.from({ length: conversations }, (_, i) => ({ id: `c${i}`, from: `u${2 * i}` })),
  };
  try {
    const ceilingUrls = await Promise.all(
      ceilings.map(
        async (c) => `http://127.0.0.1:${(JSON.parse(await c.child.firstLine) as { port: number }).port}`,
      ),
    );
    const app = await createBenchApp(url, conversations);
    const setup = o.auth === 'user' ? await withTokens(url, app) : app;
    const warm = planKeys('warm', o.warmup, o.repeat).keys;
    for (const ceilingUrl of ceilingUrls) {
      await runLoad({ url: ceilingUrl, connections: o.connections, keys: warm, ...ceilingSetup });
    }
    await runLoad({ url, connections: o.connections, keys: warm, ...setup });

    // Rounds alternate between the servers, so that load from elsewhere on the machine hits all alike.
    const ceilingRuns: Measured[][] = ceilings.map(() => []);
    const oncelys: Measured[] = [];
    let distinct = 0;
    const before = await call<string>(url, adminToken, 'GET', '/metrics');
    for (let round = 0; round < o.rounds; round++) {
      const plan = planKeys(`r${round}`, o.messages, o.repeat);
      distinct += plan.distinct;
      for (const [i, c] of ceilings.entries()) {
        const run = await measured(c.child.process.pid, () =>
          runLoad({ url: ceilingUrls[i]!, connections: o.connections, keys: plan.keys, ...ceilingSetup }),
        );
        console.log(`${i === 0 ? `round ${round + 1}` : '       '}  ${c.name} ${describe(run)}`);
        ceilingRuns[i]!.push(run);
      }
      const oncely = await measured(server.pid, () =>
        runLoad({ url, connections: o.connections, keys: plan.keys, ...setup }),
      );
      console.log(`         oncely       ${describe(oncely)}`);
      oncelys.push(oncely);
    }
    const after = await call<string>(url, adminToken, 'GET', '/metrics');
    const created =
      counter(after, 'oncely_messages_created_total') - counter(before, 'oncely_messages_created_total');
    const duplicates = counter(after, 'oncely_duplicates_total') - counter(before, 'oncely_duplicates_total');
    console.log(
      `oncely stored ${created} messages for ${distinct} distinct keys and answered ${duplicates} repeats`,
    );
    if (created !== distinct) console.log('WARNING: stored messages differ from distinct keys');
    const groups =
      counter(after, 'oncely_group_commit_size_count') - counter(before, 'oncely_group_commit_size_count');
    const grouped =
      counter(after, 'oncely_group_commit_size_sum') - counter(before, 'oncely_group_commit_size_sum');
    console.log(
      `group commit: ${groups} transactions, ${(grouped / groups).toFixed(1)} sends per transaction on average`,
    );

    const summary = (name: string, rs: Measured[]) =>
      `${name} median ${median(rs.map(rate)).toFixed(0)} msgs/s, p50 ${median(rs.map((r) => r.p50))} ms, ` +
      `p99 ${median(rs.map((r) => r.p99))} ms, server CPU ${median(rs.map((r) => r.cpuUsPerRequest)).toFixed(0)} µs/request`;
    for (const [i, c] of ceilings.entries()) console.log(summary(`${c.name} (ceiling)`, ceilingRuns[i]!));
    console.log(summary('oncely                ', oncelys));
    for (const [i, c] of ceilings.entries()) {
      const ratio = median(oncelys.map(rate)) / median(ceilingRuns[i]!.map(rate));
      console.log(
        `ratio to ${c.name.trim()}: oncely reaches ${(ratio * 100).toFixed(0)} % of its msgs/s ` +
          `(durability ${o.durability}; goal ≥ 60 % of the bare route at full)`,
      );
    }
  } finally {
    await Promise.all([server.stop(), ...ceilings.map((c) => c.child.stop())]);
  }
}
