// `npm run bench -- fanout [--clients 2000] [--group 50] [--rates 600,1500,3000] [--seconds 10] [--durability full]
//  [--profile DIR] [--instances N]` (DIR receives V8 CPU profiles of both servers; with --instances, oncely as 1 and
//  as N instances on PostgreSQL + Redis instead: bench/_instances.ts)
// K WebSocket clients in groups of `group`, one sender per group, each rate in turn (messages/s in all): each message
// reaches every member of its group. Measures deliveries/s, send→receive latency (p50/p99) and server
// memory per connection for oncely (durable, ordered, authenticated) and, in the same run under the same
// load, a plain Socket.IO room broadcast as the baseline. Servers and clients each run in their own process.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { FanoutPlan, FanoutResult } from './_fanout-clients.js';
import { fanoutInstances } from './_instances.js';
import { adminToken, call, startOncelyProcess, startScript, type Child } from './_processes.js';

/** Heap (after a full GC) and RSS of a server process, via its `mem` stdin command. */
async function memory(
  server: Child,
): Promise<{ heap: number; rss: number; loop?: { p50: number; p99: number } }> {
  server.process.stdin!.write('mem\n');
  return JSON.parse(await server.nextLine('the server')) as {
    heap: number;
    rss: number;
    loop?: { p50: number; p99: number };
  };
}

async function inParallel<T>(items: T[], width: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

/** oncely's ingest latency histogram (submit → commit): its running sum and count. */
async function ingestLatency(url: string): Promise<{ sum: number; count: number }> {
  const text = await (
    await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${adminToken}` } })
  ).text();
  const value = (name: string) =>
    Number(/^(\S+) (\S+)$/m.exec(text.split('\n').find((l) => l.startsWith(name)) ?? '')?.[2] ?? 0);
  return {
    sum: value('oncely_ingest_latency_seconds_sum'),
    count: value('oncely_ingest_latency_seconds_count'),
  };
}

/** oncely's side: users, groups of `group` members, one token per client. */
async function oncelyClients(url: string, clients: number, group: number): Promise<FanoutPlan['clients']> {
  const app = await call<{ apiKey: string }>(url, adminToken, 'POST', '/v1/apps', { name: 'fanout' });
  const users = Array.from({ length: clients }, (_, i) => `u${i}`);
  const tokens = new Map<string, string>();
  await inParallel(users, 16, async (u) => {
    await call(url, app.apiKey, 'PUT', `/v1/users/${u}`, {});
    tokens.set(
      u,
      (await call<{ token: string }>(url, app.apiKey, 'POST', `/v1/users/${u}/tokens`, { ttlSeconds: 3600 }))
        .token,
    );
  });
  const plan: FanoutPlan['clients'] = [];
  for (let g = 0; g * group < clients; g++) {
    const members = users.slice(g * group, (g + 1) * group);
    const conv = await call<{ id: string }>(url, app.apiKey, 'POST', '/v1/conversations', {
      kind: 'group',
      members,
    });
    members.forEach((u, i) => plan.push({ group: conv.id, token: tokens.get(u)!, sender: i === 0 }));
  }
  return plan;
}

interface Measured extends FanoutResult {
  /** Server heap after GC, per connection. */
  heapPerConnection: number;
  rssPerConnection: number;
  /** The server's event-loop delay during the run (oncely only). */
  loop?: { p50: number; p99: number } | undefined;
}

async function measure(
  server: Child,
  url: string,
  base: Omit<FanoutPlan, 'url'>,
  dir: string,
): Promise<Measured> {
  const before = await memory(server);
  const planFile = join(dir, `plan-${base.kind}.json`);
  writeFileSync(planFile, JSON.stringify({ ...base, url }));
  const clients = startScript(['bench/_fanout-clients.ts', planFile]);
  try {
    await clients.nextLine('the clients');
    const after = await memory(server);
    clients.process.stdin!.write('go\n');
    const result = JSON.parse(await clients.nextLine('the clients')) as FanoutResult;
    const during = await memory(server);
    const n = base.clients.length;
    return {
      ...result,
      heapPerConnection: (after.heap - before.heap) / n,
      rssPerConnection: (after.rss - before.rss) / n,
      loop: during.loop,
    };
  } finally {
    await clients.stop();
  }
}

function describe(name: string, r: Measured): string {
  const rate = r.deliveries / r.seconds;
  return (
    `${name} ${rate.toFixed(0).padStart(7)} deliveries/s  p50 ${String(r.p50).padStart(6)} ms  ` +
    `p99 ${String(r.p99).padStart(6)} ms  max ${String(r.max).padStart(6)} ms  ` +
    `heap ${(r.heapPerConnection / 1024).toFixed(1)} KiB/conn (rss ${(r.rssPerConnection / 1024).toFixed(1)})  delivered ${r.deliveries}/${r.expected}` +
    (r.errors ? `  errors ${r.errors}` : '')
  );
}

export default async function fanout(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      clients: { type: 'string', default: '2000' },
      group: { type: 'string', default: '50' },
      rates: { type: 'string', default: '600,1500,3000' },
      seconds: { type: 'string', default: '10' },
      durability: { type: 'string', default: 'full' },
      profile: { type: 'string' },
      instances: { type: 'string' },
    },
  });
  const clients = Number(values.clients);
  const group = Number(values.group);
  const rates = values.rates!.split(',').map(Number);
  const seconds = Number(values.seconds);
  // One instance against N on PostgreSQL + Redis, instead of oncely against Socket.IO (bench/_instances.ts).
  if (values.instances) {
    const instances = Number(values.instances);
    return fanoutInstances({ instances, clients, group, rates, seconds, durability: values.durability! });
  }
  console.log(
    `fanout: ${clients} WebSocket clients in groups of ${group}, ${rates.join(' / ')} messages/s ` +
      `(× ${group} deliveries each) for ${seconds} s per step; oncely durability ${values.durability}`,
  );
  // --expose-gc: the servers collect garbage before reporting memory; --cpu-prof when --profile is given.
  const serverNodeArgs = [
    '--expose-gc',
    ...(values.profile ? ['--cpu-prof', '--cpu-prof-dir', resolve(values.profile)] : []),
  ];
  const server = await startOncelyProcess({ ONCELY_DURABILITY: values.durability! }, values.profile, {
    script: ['bench/_oncely-server.ts'],
    nodeArgs: ['--expose-gc'],
  });
  const { url, child: oncely } = server;
  const dir = mkdtempSync(join(tmpdir(), 'oncely-fanout-'));
  const socketio = startScript(['bench/_socketio-server.ts'], {}, serverNodeArgs);
  try {
    await oncely.nextLine('oncely');
    const sioPort = (JSON.parse(await socketio.nextLine('the Socket.IO server')) as { port: number }).port;
    const plan = await oncelyClients(url, clients, group);
    const sioPlan = plan.map((c) => ({ group: `room-${c.group}`, sender: c.sender }));
    // A ladder of offered rates: the capacity of each server is the most deliveries/s it sustains with
    // everything delivered and p99 within 100 ms.
    const best: Record<'sio' | 'ours', Measured | undefined> = { sio: undefined, ours: undefined };
    const withinSlo = (r: Measured) => r.deliveries === r.expected && r.p99 <= 100;
    const perSecond = (r: Measured | undefined) => (r ? r.deliveries / r.seconds : 0);
    let heapRatio = NaN;
    for (const rate of rates) {
      const load = { rate, seconds, drainMs: 5000 };
      console.log(`-- ${rate} messages/s (${rate * group} deliveries/s offered)`);
      const sio = await measure(
        socketio,
        `http://127.0.0.1:${sioPort}`,
        { kind: 'socketio', clients: sioPlan, ...load },
        dir,
      );
      console.log(describe('socket.io', sio));
      const ingestBefore = await ingestLatency(url);
      const ours = await measure(oncely, url, { kind: 'oncely', clients: plan, ...load }, dir);
      const ingest = await ingestLatency(url);
      const meanIngestMs =
        ((ingest.sum - ingestBefore.sum) / Math.max(1, ingest.count - ingestBefore.count)) * 1000;
      const loop = ours.loop
        ? `, event-loop delay p50 ${ours.loop.p50.toFixed(1)} / p99 ${ours.loop.p99.toFixed(1)} ms`
        : '';
      console.log(
        `${describe('oncely   ', ours)}  (mean submit→commit ${meanIngestMs.toFixed(1)} ms${loop})`,
      );
      heapRatio = ours.heapPerConnection / Math.max(1, sio.heapPerConnection);
      if (withinSlo(sio) && perSecond(sio) > perSecond(best.sio)) best.sio = sio;
      if (withinSlo(ours) && perSecond(ours) > perSecond(best.ours)) best.ours = ours;
    }
    const capacity = (r: Measured | undefined) =>
      r ? `${perSecond(r).toFixed(0)} deliveries/s (p99 ${r.p99} ms)` : 'none';
    console.log(`capacity at p99 ≤ 100 ms: socket.io ${capacity(best.sio)}, oncely ${capacity(best.ours)}`);
    console.log(
      `ratio: oncely ${(perSecond(best.ours) / Math.max(1, perSecond(best.sio))).toFixed(2)}× Socket.IO deliveries/s ` +
        `within the SLO, heap ${heapRatio.toFixed(2)}× per connection ` +
        `(goal: ≥ 1.5× deliveries/s and p99 ≤ 100 ms at 2,000 clients)`,
    );
  } finally {
    await Promise.all([server.stop(), socketio.stop()]);
    rmSync(dir, { recursive: true, force: true });
  }
}
