// oncely for `bench/queues.ts`, in its own process. First it sets up an app with groups (printed as JSON);
// then, on the line `go <consumers.json>` on stdin, it starts again with that consumer and prints how long
// the consumer took from connecting to having settled `expected` deliveries.
import { createInterface } from 'node:readline';
import { loadConfig } from '../src/config.js';
import { startOncely } from '../src/main.js';
import { createBenchApp } from './_processes.js';

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
// CPU time counts from the first poll that sees the consumer running (within a few ms of its connect).
let cpuAtStart: NodeJS.CpuUsage | undefined;
for (;;) {
  const [c] = oncely.services.consumers.list();
  if (!c) throw new Error('no consumer configured');
  if (c.state === 'running') cpuAtStart ??= process.cpuUsage();
  if (c.created + c.duplicate + c.deadLettered >= expected) {
    const ms = Date.now() - Date.parse(c.since);
    const cpu = process.cpuUsage(cpuAtStart);
    const cpuMs = (cpu.user + cpu.system) / 1000;
    const result = { ms, cpuMs, created: c.created, duplicate: c.duplicate, dead: c.deadLettered };
    process.stdout.write(`${JSON.stringify(result)}\n`);
    break;
  }
  await new Promise((r) => setTimeout(r, 2));
}
await oncely.close();
process.exit(0);
