// `npm run bench -- presence [--users 2000] [--offline 500] [--group 50] [--churn 200] [--seconds 20]
//  [--rounds 3] [--batch-ms N] [--profile DIR]` (DIR receives V8 CPU profiles of the servers; --batch-ms sets
//  ONCELY_PRESENCE_BATCH_MS, the window presence changes are delivered together in, default 1000)
// The cost of presence: `users` WebSocket users connected (and `offline` more waiting their turn), all in
// conversations of `group` members, connecting and disconnecting at `churn` per second in all: each is a
// first-session or last-session change, so a presence frame to every other connected member. An offline
// user comes back after offline / (churn / 2) seconds (a queue), not at once. The same run with presence off
// (ONCELY_PRESENCE=0) is the baseline: the server's CPU with presence beside it, presence frames delivered per
// second. Goal: presence adds ≤ 20 % CPU. Servers and clients each run in their own process; both servers are
// set up once and stay up, and each round runs a period on the one without presence, then on the one with it
// (a pair), so the machine's drifting load reaches both sides of a pair alike. A first period on each
// (not counted) warms them up.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { PresencePlan, PresenceResult } from './_presence-clients.js';
import { adminToken, call, cpuSplitMs, median, startOncelyProcess, startScript } from './_processes.js';

async function inParallel<T>(items: T[], width: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

/** Users, conversations of `group` members, and one token per user. */
async function setUp(url: string, users: number, group: number): Promise<string[]> {
  const app = await call<{ apiKey: string }>(url, adminToken, 'POST', '/v1/apps', { name: 'presence' });
  const ids = Array.from({ length: users }, (_, i) => `u${i}`);
  const tokens = new Array<string>(users);
  await inParallel(
    ids.map((id, i) => ({ id, i })),
    16,
    async ({ id, i }) => {
      await call(url, app.apiKey, 'PUT', `/v1/users/${id}`, {});
      tokens[i] = (
        await call<{ token: string }>(url, app.apiKey, 'POST', `/v1/users/${id}/tokens`, { ttlSeconds: 3600 })
      ).token;
    },
  );
  for (let g = 0; g * group < users; g++) {
    await call(url, app.apiKey, 'POST', '/v1/conversations', {
      kind: 'group',
      members: ids.slice(g * group, (g + 1) * group),
    });
  }
  return tokens;
}

interface Run extends PresenceResult {
  presence: boolean;
  /** Server CPU during the run, ms per second: all of it, and the part in the kernel (socket writes…). */
  cpuPerSecond: number;
  systemPerSecond: number;
}

interface Options {
  users: number;
  offline: number;
  group: number;
  churn: number;
  seconds: number;
  profile: string | undefined;
  batchMs: string | undefined;
}

/** A server with presence on or off, its users set up and connected by their client process, settled. */
interface Setup {
  /** One period of churn; the server's CPU over it. */
  measure(): Promise<Run>;
  stop(): Promise<void>;
}

async function setUpServer(presence: boolean, opts: Options, dir: string): Promise<Setup> {
  const server = await startOncelyProcess(
    {
      ONCELY_PRESENCE: presence ? '1' : '0',
      ONCELY_MAX_CONNECTIONS_PER_USER: '4',
      ...(opts.batchMs === undefined ? {} : { ONCELY_PRESENCE_BATCH_MS: opts.batchMs }),
    },
    opts.profile,
  );
  let clients: ReturnType<typeof startScript> | undefined;
  const stop = async () => {
    await clients?.stop();
    await server.stop();
  };
  try {
    const tokens = await setUp(server.url, opts.users + opts.offline, opts.group);
    const planFile = join(dir, `plan-${presence}.json`);
    const plan: PresencePlan = {
      url: server.url,
      tokens,
      connected: opts.users,
      churn: opts.churn,
      seconds: opts.seconds,
    };
    writeFileSync(planFile, JSON.stringify(plan));
    clients = startScript(['bench/_presence-clients.ts', planFile]);
    await clients.nextLine('the clients');
  } catch (err) {
    await stop();
    throw err;
  }
  const connected = clients;
  return {
    async measure() {
      const before = cpuSplitMs(server.pid);
      connected.process.stdin!.write('go\n');
      const result = JSON.parse(await connected.nextLine('the clients')) as PresenceResult;
      const after = cpuSplitMs(server.pid);
      const user = after.user - before.user;
      const system = after.system - before.system;
      return {
        ...result,
        presence,
        cpuPerSecond: (user + system) / result.seconds,
        systemPerSecond: system / result.seconds,
      };
    },
    stop,
  };
}

function describe(r: Run): string {
  return (
    `presence ${r.presence ? 'on ' : 'off'}: server CPU ${r.cpuPerSecond.toFixed(0).padStart(4)} ms/s ` +
    `(kernel ${r.systemPerSecond.toFixed(0)}), ` +
    `${((r.connects + r.disconnects) / r.seconds).toFixed(0)} connects+disconnects/s, ` +
    `${(r.presenceFrames / r.seconds).toFixed(0)} presence frames/s delivered` +
    (r.errors ? `, ${r.errors} connects failed or unfinished` : '')
  );
}

export default async function presenceBench(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      users: { type: 'string', default: '2000' },
      offline: { type: 'string', default: '500' },
      group: { type: 'string', default: '50' },
      churn: { type: 'string', default: '200' },
      seconds: { type: 'string', default: '20' },
      rounds: { type: 'string', default: '3' },
      'batch-ms': { type: 'string' },
      profile: { type: 'string' },
    },
  });
  const opts = {
    users: Number(values.users),
    offline: Number(values.offline),
    group: Number(values.group),
    churn: Number(values.churn),
    seconds: Number(values.seconds),
    profile: values.profile,
    batchMs: values['batch-ms'],
  };
  console.log(
    `presence: ${opts.users} WebSocket users connected (${opts.offline} more offline, taking turns) in groups ` +
      `of ${opts.group}, ${opts.churn} connects+disconnects/s ` +
      `for ${opts.seconds} s; ${values.rounds} rounds each of presence off (baseline) and on; ` +
      `presence batch ${opts.batchMs ?? 'default'} ms`,
  );
  const dir = mkdtempSync(join(tmpdir(), 'oncely-presence-'));
  const runs: Run[] = [];
  const setups: Setup[] = [];
  try {
    // Both servers stay up, set up once; their periods alternate, so drift in the machine's load
    // reaches both sides of each pair alike.
    for (const presence of [false, true]) setups.push(await setUpServer(presence, opts, dir));
    // Connecting settles: the first sessions' presence frames (delivered one batch window later) are not
    // part of the run.
    const windowMs = opts.batchMs === undefined ? 1000 : Number(opts.batchMs);
    await new Promise((r) => setTimeout(r, Math.max(2000, windowMs + 1000)));
    // A first period on each server warms it up (its code paths compiled, its heap grown) and is not counted:
    // otherwise the first pair weighs the compiling of presence's paths as presence's cost.
    for (const setup of setups) await setup.measure();
    for (let round = 0; round < Number(values.rounds); round++) {
      for (const setup of setups) {
        const r = await setup.measure();
        console.log(describe(r));
        runs.push(r);
        if (r.presence) console.log(`  this pair: presence adds ${added(runs.at(-2)!, r)}`);
      }
    }
  } finally {
    for (const setup of setups) await setup.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  const off = median(runs.filter((r) => !r.presence).map((r) => r.cpuPerSecond));
  const on = median(runs.filter((r) => r.presence).map((r) => r.cpuPerSecond));
  const frames = median(runs.filter((r) => r.presence).map((r) => r.presenceFrames / r.seconds));
  const pairs = runs.flatMap((r, i) =>
    r.presence ? [(r.cpuPerSecond / runs[i - 1]!.cpuPerSecond - 1) * 100] : [],
  );
  console.log(
    `medians: server CPU ${off.toFixed(0)} ms/s without presence, ${on.toFixed(0)} ms/s with it; ` +
      `presence adds ${median(pairs).toFixed(1)} % CPU, the median pair (goal ≤ 20 %; pairs ` +
      `${pairs.map((p) => `${p.toFixed(0)} %`).join(', ')}), ${frames.toFixed(0)} presence frames/s delivered`,
  );
}

/** What the run with presence adds to the one without, as a share of it, and in ms/s (kernel part). */
function added(off: Run, on: Run): string {
  const share = ((on.cpuPerSecond - off.cpuPerSecond) / off.cpuPerSecond) * 100;
  return (
    `${share.toFixed(1)} % CPU (${(on.cpuPerSecond - off.cpuPerSecond).toFixed(0)} ms/s, kernel ` +
    `${(on.systemPerSecond - off.systemPerSecond).toFixed(0)})`
  );
}
