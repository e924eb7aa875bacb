// `npm run bench -- webhooks [--events N] [--concurrency C] [--messages M] [--connections K] [--rounds R]
//  [--durability full|normal] [--profile DIR]` (DIR receives a V8 CPU profile of the oncely process)
// Two figures, each against a baseline measured in the same run:
// 1. delivery: N stored events replayed to one endpoint whose receiver answers 204 at once, in events/s, beside
//    the same receiver fed by a plain HTTP client loop with the same requests in flight (the ceiling);
// 2. ingest: M REST sends to an app with one webhook endpoint (the outbox written, the dispatcher delivering)
//    beside M sends to an app without any.
// oncely, the receiver, the client loop and the load generator each run in their own process.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import type { LoadPlan, LoadResult } from './_load.js';
import {
  adminToken,
  call,
  cpuMs,
  createBenchApp,
  median,
  startOncelyProcess,
  startScript,
  type Child,
} from './_processes.js';

function options(args: string[]) {
  const { values } = parseArgs({
    args,
    options: {
      events: { type: 'string', default: '20000' },
      concurrency: { type: 'string', default: '16' },
      messages: { type: 'string', default: '10000' },
      connections: { type: 'string', default: '64' },
      rounds: { type: 'string', default: '3' },
      durability: { type: 'string', default: 'full' },
      profile: { type: 'string' },
    },
  });
  return {
    events: Number(values.events),
    concurrency: Number(values.concurrency),
    messages: Number(values.messages),
    connections: Number(values.connections),
    rounds: Number(values.rounds),
    durability: values.durability === 'normal' ? 'normal' : 'full',
    profile: values.profile,
  };
}

async function runLoad(plan: LoadPlan): Promise<LoadResult> {
  const dir = mkdtempSync(join(tmpdir(), 'oncely-load-'));
  const file = join(dir, 'plan.json');
  writeFileSync(file, JSON.stringify(plan));
  try {
    return JSON.parse(await startScript(['bench/_load.ts', file]).firstLine) as LoadResult;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function receiverCount(receiver: Child): Promise<{ requests: number; unique: number }> {
  receiver.process.stdin!.write('count\n');
  return JSON.parse(await receiver.nextLine('the receiver')) as { requests: number; unique: number };
}

/** Waits until the receiver has `total` distinct (path, webhook-id) pairs; polls, never sleeps a fixed time. */
async function receivedAll(receiver: Child, total: number, timeoutMs = 600_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while ((await receiverCount(receiver)).unique < total) {
    if (Date.now() > deadline) throw new Error(`the receiver did not get ${total} requests in time`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Stores `n` messages through the batch API, 1000 per call. */
async function storeEvents(
  url: string,
  apiKey: string,
  conversations: Array<{ id: string; from: string }>,
  n: number,
) {
  for (let start = 0; start < n; start += 1000) {
    const items = Array.from({ length: Math.min(1000, n - start) }, (_, i) => {
      const conv = conversations[(start + i) % conversations.length]!;
      return {
        idempotencyKey: `e${start + i}`,
        from: conv.from,
        conversationId: conv.id,
        body: { type: 'text', text: `event ${start + i}` },
      };
    });
    await call(url, apiKey, 'POST', '/v1/messages/batch', { items });
  }
}

const rate = (r: { requests: number; seconds: number }) => r.requests / r.seconds;

export default async function webhooks(args: string[]): Promise<void> {
  const o = options(args);
  console.log(
    `webhooks: ${o.events} events delivered per round with ${o.concurrency} requests in flight; ingest ${o.messages} ` +
      `sends per round over ${o.connections} connections (durability ${o.durability}); ${o.rounds} rounds`,
  );
  const receiver = startScript(['bench/_webhook-receiver.ts']);
  const receiverUrl = `http://127.0.0.1:${(JSON.parse(await receiver.nextLine('the receiver')) as { port: number }).port}/hook`;
  const server = await startOncelyProcess(
    {
      ONCELY_DURABILITY: o.durability,
      ONCELY_WEBHOOK_ALLOW_PRIVATE: '1',
      ONCELY_WEBHOOK_ENDPOINT_CONCURRENCY: String(o.concurrency),
    },
    o.profile,
  );
  const { url } = server;
  try {
    // 1. Delivery: the same stored events replayed each round to a fresh endpoint.
    const delivery = await createBenchApp(url, 32);
    await storeEvents(url, delivery.apiKey, delivery.conversations, o.events);
    const sampleBytes = 330;
    const loops: number[] = [];
    const oncelys: number[] = [];
    const cpuPerEvent: number[] = [];
    // CPU per request of each process (µs), to see what bounds the ratio on a machine of few cores: the client
    // loop's and the receiver's in the loop phase, oncely's and the receiver's in oncely's.
    // oncely's main thread apart: if it is busy all the time, it bounds the rate whatever the other cores do.
    const cpu = {
      loop: [] as number[],
      receiverOfLoop: [] as number[],
      receiverOfOncely: [] as number[],
      oncelyMain: [] as number[],
      oncelyMainBusy: [] as number[],
    };
    const mainThread = `${server.pid}/task/${server.pid}`;
    const runLoop = async () =>
      JSON.parse(
        await startScript([
          'bench/_webhook-client-loop.ts',
          receiverUrl,
          String(o.events),
          String(o.concurrency),
          String(sampleBytes),
        ]).firstLine,
      ) as { requests: number; seconds: number; cpuMs: number };
    await runLoop();
    for (let round = 0; round < o.rounds; round++) {
      const receiverCpu = cpuMs(receiver.process.pid);
      const loop = await runLoop();
      cpu.receiverOfLoop.push(((cpuMs(receiver.process.pid) - receiverCpu) * 1000) / o.events);
      cpu.loop.push((loop.cpuMs * 1000) / o.events);
      const endpointId = `deliver-${round}`;
      await call(url, delivery.apiKey, 'PUT', `/v1/webhook-endpoints/${endpointId}`, {
        url: `${receiverUrl}/${endpointId}`,
      });
      const before = await receiverCount(receiver);
      const cpuBefore = cpuMs(server.pid);
      const receiverBefore = cpuMs(receiver.process.pid);
      const mainBefore = cpuMs(mainThread);
      const started = performance.now();
      await call(url, delivery.apiKey, 'POST', `/v1/webhook-endpoints/${endpointId}/replay`, { since: 0 });
      await receivedAll(receiver, before.unique + o.events);
      const seconds = (performance.now() - started) / 1000;
      const after = await receiverCount(receiver);
      const repeats = after.requests - before.requests - (after.unique - before.unique);
      cpuPerEvent.push(((cpuMs(server.pid) - cpuBefore) * 1000) / o.events);
      cpu.receiverOfOncely.push(((cpuMs(receiver.process.pid) - receiverBefore) * 1000) / o.events);
      cpu.oncelyMain.push(((cpuMs(mainThread) - mainBefore) * 1000) / o.events);
      cpu.oncelyMainBusy.push((cpuMs(mainThread) - mainBefore) / (seconds * 1000));
      await call(url, delivery.apiKey, 'DELETE', `/v1/webhook-endpoints/${endpointId}`);
      loops.push(rate(loop));
      oncelys.push(o.events / seconds);
      console.log(
        `round ${round + 1}  client loop ${rate(loop).toFixed(0).padStart(6)} req/s   oncely ${(o.events / seconds).toFixed(0).padStart(6)} events/s` +
          `   (${cpuPerEvent[round]!.toFixed(0)} µs server CPU per event, ${repeats} sent twice)`,
      );
      console.log(
        `         CPU per request: client loop ${cpu.loop[round]!.toFixed(0)} µs + its receiver ${cpu.receiverOfLoop[round]!.toFixed(0)} µs;` +
          ` oncely ${cpuPerEvent[round]!.toFixed(0)} µs (main thread ${cpu.oncelyMain[round]!.toFixed(0)} µs, busy` +
          ` ${(cpu.oncelyMainBusy[round]! * 100).toFixed(0)} % of the time) + its receiver ${cpu.receiverOfOncely[round]!.toFixed(0)} µs`,
      );
    }
    const deliveryRatio = median(oncelys) / median(loops);
    console.log(
      `delivery: oncely median ${median(oncelys).toFixed(0)} events/s = ${(deliveryRatio * 100).toFixed(0)} % of the client loop's ` +
        `${median(loops).toFixed(0)} req/s (goal ≥ 50 %); ${median(cpuPerEvent).toFixed(0)} µs server CPU per event`,
    );
    console.log(
      `CPU per request (medians): client loop ${median(cpu.loop).toFixed(0)} µs + receiver ${median(cpu.receiverOfLoop).toFixed(0)} µs;` +
        ` oncely ${median(cpuPerEvent).toFixed(0)} µs (main thread ${median(cpu.oncelyMain).toFixed(0)} µs, busy` +
        ` ${(median(cpu.oncelyMainBusy) * 100).toFixed(0)} %) + receiver ${median(cpu.receiverOfOncely).toFixed(0)} µs`,
    );

    // 2. Ingest with one endpoint (delivering meanwhile) against without.
    const plain = await createBenchApp(url, 32);
    const hooked = await createBenchApp(url, 32);
    await call(url, hooked.apiKey, 'PUT', '/v1/webhook-endpoints/hook', { url: receiverUrl });
    const plan = (prefix: string, setup: typeof plain): LoadPlan => ({
      url,
      connections: o.connections,
      keys: Array.from({ length: o.messages }, (_, i) => `${prefix}-${i}`),
      ...setup,
    });
    await runLoad(plan('warm-plain', plain));
    let expected = (await receiverCount(receiver)).unique + o.messages;
    await runLoad(plan('warm-hooked', hooked));
    await receivedAll(receiver, expected);
    const without: number[] = [];
    const withEndpoint: number[] = [];
    const cpuWithout: number[] = [];
    const cpuWith: number[] = [];
    let lag = 0;
    for (let round = 0; round < o.rounds; round++) {
      // Alternating which goes first, so that load from elsewhere on the machine hits both alike.
      const runs: Array<() => Promise<void>> = [
        async () => {
          const cpu = cpuMs(server.pid);
          without.push(rate(await runLoad(plan(`r${round}-plain`, plain))));
          cpuWithout.push(((cpuMs(server.pid) - cpu) * 1000) / o.messages);
        },
        async () => {
          expected = (await receiverCount(receiver)).unique + o.messages;
          const cpu = cpuMs(server.pid);
          withEndpoint.push(rate(await runLoad(plan(`r${round}-hooked`, hooked))));
          const done = performance.now();
          // The deliveries still under way when the sends ended finish before the next measurement; the server
          // CPU counted covers them too.
          await receivedAll(receiver, expected);
          cpuWith.push(((cpuMs(server.pid) - cpu) * 1000) / o.messages);
          lag = Math.max(lag, performance.now() - done);
        },
      ];
      if (round % 2 === 1) runs.reverse();
      for (const run of runs) await run();
      console.log(
        `round ${round + 1}  ingest without endpoint ${without[round]!.toFixed(0).padStart(6)} msgs/s   with one ${withEndpoint[round]!.toFixed(0).padStart(6)} msgs/s`,
      );
    }
    const ingestRatio = median(withEndpoint) / median(without);
    console.log(
      `ingest: with one endpoint ${median(withEndpoint).toFixed(0)} msgs/s = ${(ingestRatio * 100).toFixed(0)} % of ` +
        `${median(without).toFixed(0)} msgs/s without (goal ≥ 90 %); the last delivery came at most ${(lag / 1000).toFixed(1)} s after the last send; ` +
        `server CPU per message ${median(cpuWith).toFixed(0)} µs with (sends and deliveries) against ${median(cpuWithout).toFixed(0)} µs without`,
    );
    const metrics = await call<string>(url, adminToken, 'GET', '/metrics');
    const failures = metrics
      .split('\n')
      .filter((l) => l.startsWith('oncely_webhook_attempts_total') && l.includes('outcome="failure"'));
    if (failures.length > 0) console.log(`WARNING: failed attempts:\n${failures.join('\n')}`);
  } finally {
    await Promise.all([server.stop(), receiver.stop()]);
  }
}
