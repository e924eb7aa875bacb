// oncely for `bench/queues.ts`, in its own process. First it sets up an app with groups (printed as JSON);
// then, on the line `go <consumers.json>` on stdin, it starts again with that consumer, prints `running` once
// it is, and then how long the consumer took from connecting to having settled `expected` deliveries, the
// CPU time it used meanwhile (all threads, and the main thread alone) and how busy its event loop was.
import { performance, type EventLoopUtilization } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { loadConfig } from '../src/config.js';
import { startOncely } from '../src/main.js';
import { cpuMs, createBenchApp } from './_processes.js';

const groups = Number(process.env.BENCH_GROUPS ?? 32);
const expected = Number(process.env.BENCH_EXPECTED);

const setup = await startOncely(loadConfig());
const app = await createBenchApp(setup.url, groups);
const appId = (await setup.services.store.db.selectFrom('apps').select('id').executeTakeFirstOrThrow()).id;
await setup.close();
process.stdout.write(`${JSON.stringify({ appId, conversations: app.conversations })}\n`);

const lines = createInterface({ input: process.stdin });
const [, file] = (await new Promise<string>((resolve) => lines.once('line', resolve))).split(' ');
const oncely = await startOncely(loadConfig({ ...process.env, ONCELY_CONSUMERS_FILE: file }));
const mainThread = `${process.pid}/task/${process.pid}`;
// CPU time counts from the first poll that sees the consumer running (within a few ms of its connect).
let atStart: { cpu: NodeJS.CpuUsage; mainMs: number; loop: EventLoopUtilization } | undefined;
for (;;) {
  const [c] = oncely.services.consumers.list();
  if (!c) throw new Error('no consumer configured');
  if (c.state === 'running' && !atStart) {
    atStart = {
      cpu: process.cpuUsage(),
      mainMs: cpuMs(mainThread),
      loop: performance.eventLoopUtilization(),
    };
    // The bench reads the broker server's CPU from here on.
    process.stdout.write('running\n');
  }
  if (atStart && c.created + c.duplicate + c.deadLettered >= expected) {
    const ms = Date.now() - Date.parse(c.since);
    const cpu = process.cpuUsage(atStart.cpu);
    const result = {
      ms,
      cpuMs: (cpu.user + cpu.system) / 1000,
      mainThreadCpuMs: cpuMs(mainThread) - atStart.mainMs,
      // The share of the time the event loop was running code rather than waiting for I/O.
      loopBusy: performance.eventLoopUtilization(atStart.loop).utilization,
      created: c.created,
      duplicate: c.duplicate,
      dead: c.deadLettered,
    };
    process.stdout.write(`${JSON.stringify(result)}\n`);
    break;
  }
  await new Promise((r) => setTimeout(r, 2));
}
await oncely.close();
process.exit(0);
