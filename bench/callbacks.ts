// `npm run bench -- callbacks [--callbacks N] [--connections C] [--repeat 0.3] [--durability full|normal] [--rounds 3]
//  [--profile DIR]` (DIR receives a V8 CPU profile of the oncely process)
// Signed generic callbacks (a `repeat` share of them retries of earlier ones) to oncely, and in the same run
// the same requests to a bare Fastify JSON echo route: the framework ceiling. oncely, the ceiling and the load
// generator each run in their own process. Prints callbacks/s, p50/p99 of both, their ratio, and checks
// oncely's counters against what was sent.
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import type { CallbackLoadResult, CallbackPlan } from './_callback-load.js';
import { adminToken, call, counter, cpuMs, median, startOncelyProcess, startScript } from './_processes.js';

const pairs = 64;

function options(args: string[]) {
  const { values } = parseArgs({
    args,
    options: {
      callbacks: { type: 'string', default: '20000' },
      connections: { type: 'string', default: '64' },
      repeat: { type: 'string', default: '0.3' },
      durability: { type: 'string', default: 'full' },
      warmup: { type: 'string', default: '3000' },
      rounds: { type: 'string', default: '3' },
      profile: { type: 'string' },
    },
  });
  if (values.durability !== 'full' && values.durability !== 'normal')
    throw new Error('--durability is full or normal');
  return {
    callbacks: Number(values.callbacks),
    connections: Number(values.connections),
    repeat: Number(values.repeat),
    durability: values.durability,
    warmup: Number(values.warmup),
    rounds: Number(values.rounds),
    profile: values.profile,
  };
}

type Measured = CallbackLoadResult & { cpuUsPerRequest: number };

/** Runs a load and adds the server's CPU time per request: a figure that other load on the machine barely moves. */
async function runLoad(plan: CallbackPlan, serverPid: number | undefined): Promise<Measured> {
  const before = cpuMs(serverPid);
  const load = startScript(['bench/_callback-load.ts', JSON.stringify(plan)]);
  const result = JSON.parse(await load.firstLine) as CallbackLoadResult;
  return { ...result, cpuUsPerRequest: ((cpuMs(serverPid) - before) * 1000) / result.requests };
}

const rate = (r: Measured) => r.requests / r.seconds;
const describe = (r: Measured) =>
  `${rate(r).toFixed(0).padStart(7)} callbacks/s   p50 ${String(r.p50).padStart(4)} ms   p99 ${String(r.p99).padStart(4)} ms   server CPU ${r.cpuUsPerRequest.toFixed(0).padStart(4)} µs/callback   statuses ${JSON.stringify(r.statuses)}`;

export default async function callbacks(args: string[]): Promise<void> {
  const o = options(args);
  console.log(
    `callbacks: ${o.callbacks} signed callbacks per round (${Math.round(o.repeat * 100)} % retries), ${o.connections} ` +
      `connections, durability ${o.durability}, ${o.rounds} rounds, ${o.warmup} warm-up callbacks each`,
  );
  const echo = startScript(['bench/_echo-server.ts']);
  const echoUrl = `http://127.0.0.1:${(JSON.parse(await echo.firstLine) as { port: number }).port}`;
  const server = await startOncelyProcess({ ONCELY_DURABILITY: o.durability }, o.profile);
  try {
    const { url } = server;
    const app = await call<{ id: string; apiKey: string }>(url, adminToken, 'POST', '/v1/apps', {
      name: 'bench',
    });
    const secret = `whsec_${randomBytes(24).toString('base64')}`;
    await call(url, app.apiKey, 'PUT', '/v1/callback-sources/bench', { format: 'generic', secret });
    const path = `/v1/apps/${app.id}/callbacks/bench`;
    const base = {
      path,
      secret,
      connections: o.connections,
      pairs: Array.from({ length: pairs }, (_, i): [string, string] => [`u${2 * i}`, `u${2 * i + 1}`]),
    };
    // Warm-up also makes the users and direct conversations (first sight), so rounds measure steady state.
    const warm = { prefix: 'warm', count: o.warmup, repeat: o.repeat };
    await runLoad({ ...base, ...warm, url: echoUrl }, echo.process.pid);
    await runLoad({ ...base, ...warm, url }, server.pid);

    const ceilings: Measured[] = [];
    const oncelys: Measured[] = [];
    let distinct = 0;
    let sent = 0;
    const labels = { source: 'bench' };
    const before = await call<string>(url, adminToken, 'GET', '/metrics');
    // Rounds alternate between the two, so that load from elsewhere on the machine hits both alike.
    for (let round = 0; round < o.rounds; round++) {
      const plan = { prefix: `r${round}`, count: o.callbacks, repeat: o.repeat };
      const ceiling = await runLoad({ ...base, ...plan, url: echoUrl }, echo.process.pid);
      const oncely = await runLoad({ ...base, ...plan, url }, server.pid);
      distinct += oncely.distinct;
      sent += oncely.requests;
      console.log(`round ${round + 1}  fastify echo ${describe(ceiling)}`);
      console.log(`         oncely       ${describe(oncely)}`);
      ceilings.push(ceiling);
      oncelys.push(oncely);
    }
    const after = await call<string>(url, adminToken, 'GET', '/metrics');
    const delta = (name: string) => counter(after, name, labels) - counter(before, name, labels);
    const received = delta('oncely_callbacks_received_total');
    const duplicates = delta('oncely_callbacks_duplicate_total');
    const created =
      counter(after, 'oncely_messages_created_total', { source: 'callback' }) -
      counter(before, 'oncely_messages_created_total', { source: 'callback' });
    console.log(
      `oncely received ${received} of ${sent} callbacks, stored ${created} messages for ${distinct} distinct msgIds, ` +
        `answered ${duplicates} duplicates (duplicate rate ${((duplicates / received) * 100).toFixed(1)} %)`,
    );
    if (created !== distinct || received !== sent || duplicates !== sent - distinct) {
      console.log('WARNING: the counters disagree with what was sent');
    }
    const summary = (name: string, rs: Measured[]) =>
      `${name} median ${median(rs.map(rate)).toFixed(0)} callbacks/s, p50 ${median(rs.map((r) => r.p50))} ms, ` +
      `p99 ${median(rs.map((r) => r.p99))} ms, server CPU ${median(rs.map((r) => r.cpuUsPerRequest)).toFixed(0)} µs/callback`;
    console.log(summary('fastify echo (ceiling)', ceilings));
    console.log(summary('oncely                ', oncelys));
    const ratio = median(oncelys.map(rate)) / median(ceilings.map(rate));
    // The same ratio from CPU per callback: what the two would reach on a machine of their own.
    const cpuRatio =
      median(ceilings.map((r) => r.cpuUsPerRequest)) / median(oncelys.map((r) => r.cpuUsPerRequest));
    console.log(
      `ratio: oncely reaches ${(ratio * 100).toFixed(0)} % of the ceiling's callbacks/s (durability ${o.durability}; goal ≥ 50 %); ` +
        `by server CPU per callback ${(cpuRatio * 100).toFixed(0)} %`,
    );
  } finally {
    await Promise.all([server.stop(), echo.stop()]);
  }
}
