// `npm run bench -- queues [--messages 20000] [--republished 0.3] [--brokers rabbitmq,redis-stream,jetstream]
//  [--rounds 3] [--durability full|normal] [--profile DIR]` (DIR receives V8 CPU profiles of oncely)
// Messages/s consumed end to end by oncely's queue consumer, per broker: a backlog of `messages` deliveries
// (a share of them republished repeats) is consumed into SQLite, each one acknowledged after its commit. In
// the same run, the baseline: the broker's own consume-and-ack rate over the same backlog, with the same
// client library, batch and prefetch sizes, doing nothing with the messages. Each side runs in its own
// process; each is timed from its consumer's connect to its last acknowledgement, and reports the CPU time it
// used meanwhile (which other load on a shared machine moves much less than the rates). Rounds alternate
// the two on one broker, each round on a fresh source and a fresh database; medians are printed. A second
// line per broker says where oncely's CPU went (its main thread, how busy its event loop was, its other
// threads), how much CPU the broker server itself spent per message under each consumer, and how busy the
// whole machine was meanwhile, since they all share its cores.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { ConsumerKind } from '../src/config.js';
import type { Broker } from '../src/consumers/broker.js';
import { consumerRunnerDefaults } from '../src/consumers/consumer-runner.js';
import { createJetStreamBroker } from '../src/consumers/jetstream-broker.js';
import { createRabbitMqBroker } from '../src/consumers/rabbitmq-broker.js';
import { brokerClients } from '../test/broker-clients.js';
import {
  rabbitMqBinary,
  natsBinary,
  redisBinary,
  startNats,
  startRabbitMq,
  startRedis,
  type TestBroker,
} from '../test/brokers.js';
import { adminToken, cpuMs, noRateLimits, median, startScript } from './_processes.js';

function options(args: string[]) {
  const { values } = parseArgs({
    args,
    options: {
      messages: { type: 'string', default: '20000' },
      republished: { type: 'string', default: '0.3' },
      brokers: { type: 'string', default: 'rabbitmq,redis-stream,jetstream' },
      rounds: { type: 'string', default: '3' },
      durability: { type: 'string', default: 'full' },
      profile: { type: 'string' },
    },
  });
  return {
    rounds: Number(values.rounds),
    messages: Number(values.messages),
    republished: Number(values.republished),
    brokers: values.brokers.split(',') as ConsumerKind[],
    durability: values.durability,
    profile: values.profile,
  };
}

const starters: Record<ConsumerKind, { binary: () => string | undefined; start: () => Promise<TestBroker> }> =
  {
    rabbitmq: { binary: rabbitMqBinary, start: startRabbitMq },
    // The broker's usual setting: the append-only file synced once a second.
    'redis-stream': { binary: redisBinary, start: () => startRedis({ fsync: 'everysec' }) },
    jetstream: { binary: natsBinary, start: startNats },
  };

/** oncely's consumers take batches of 1,000 (src/main.ts) with the runner's default number in hand. */
const window = { batchSize: 1000, batchesInFlight: consumerRunnerDefaults.batchesInFlight };

/** Declares what oncely's consumer would (queue and dead letters, streams and durable) before publishing. */
async function declare(kind: ConsumerKind, url: string, queue: string): Promise<void> {
  const brokers: Partial<Record<ConsumerKind, () => Broker>> = {
    rabbitmq: () => createRabbitMqBroker({ url, queue, maxDeliveries: 5 }),
    jetstream: () => createJetStreamBroker({ url, stream: queue, durable: 'oncely', maxDeliveries: 5 }),
  };
  const broker = brokers[kind]?.();
  if (broker) await (await broker.connect(window)).close();
}

/** `messages` payloads: each unique item once, and `republished` of them again a little later. */
function backlog(
  messages: number,
  republished: number,
  conversations: Array<{ id: string; from: string }>,
): { payloads: string[]; unique: number } {
  const unique = Math.round(messages * (1 - republished));
  const item = (n: number) => {
    const c = conversations[n % conversations.length]!;
    return JSON.stringify({
      idempotencyKey: `bench-${n}`,
      from: c.from,
      conversationId: c.id,
      body: { type: 'text', text: `message ${n}` },
    });
  };
  const payloads: string[] = [];
  let repeats = 0;
  for (let n = 0; n < unique; n++) {
    payloads.push(item(n));
    // Spread the repeats evenly; each repeats a message published a few dozen places earlier.
    while (repeats < messages - unique && repeats * unique < (n + 1) * (messages - unique)) {
      payloads.push(item(Math.max(0, n - 37)));
      repeats++;
    }
  }
  return { payloads, unique };
}

/** The whole machine's CPU ticks so far (every core, every process): busy and in all. */
function machineTicks(): { busy: number; all: number } {
  const [, ...fields] = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/);
  const ticks = fields.map(Number);
  const all = ticks.reduce((a, b) => a + b, 0);
  // Fields: user nice system idle iowait irq softirq steal …
  return { busy: all - ticks[3]! - ticks[4]!, all };
}

/** Share of the machine's CPU busy since `from` (every process: the consumers, the broker, anyone else). */
function machineBusySince(from: { busy: number; all: number }): number {
  const now = machineTicks();
  return (now.busy - from.busy) / (now.all - from.all);
}

interface Timing {
  ms: number;
  cpuMs: number;
  /** The broker server's CPU time over the same span (ms). */
  brokerCpuMs?: number;
  /** The machine's CPU busy over the same span (0–1). */
  machineBusy?: number;
}

/** One round on a running broker: the baseline, then oncely, over the same backlog on source `source`. */
async function round(broker: TestBroker, kind: ConsumerKind, source: string, o: ReturnType<typeof options>) {
  const { url } = broker;
  const brokerCpu = () => cpuMs(broker.pid());
  const dir = mkdtempSync(join(tmpdir(), 'oncely-bench-queues-'));
  const oncely = startScript(
    ['bench/_queue-oncely.ts'],
    {
      ONCELY_HOST: '127.0.0.1',
      ONCELY_PORT: '0',
      ONCELY_DATA_DIR: dir,
      ONCELY_DATABASE_URL: `sqlite:${join(dir, 'oncely.db')}`,
      ONCELY_ADMIN_TOKEN: adminToken,
      ONCELY_LOG_LEVEL: 'warn',
      ...noRateLimits,
      ONCELY_DURABILITY: o.durability,
      BENCH_EXPECTED: String(o.messages),
    },
    o.profile ? ['--cpu-prof', '--cpu-prof-dir', resolve(o.profile)] : [],
  );
  try {
    const setup = JSON.parse(await oncely.nextLine('oncely setup')) as {
      appId: string;
      conversations: Array<{ id: string; from: string }>;
    };
    const { payloads, unique } = backlog(o.messages, o.republished, setup.conversations);
    // RabbitMQ hands a message to one queue's consumer only: the baseline reads a copy of the backlog.
    const rawSource = kind === 'rabbitmq' ? `${source}-raw` : source;
    const producer = await brokerClients[kind](url);
    for (const q of new Set([source, rawSource])) {
      await declare(kind, url, q);
      await producer.publish(q, payloads);
    }
    await producer.close();

    const rawConsumer = startScript(['bench/_queue-raw.ts', kind, url, rawSource, String(payloads.length)]);
    await rawConsumer.nextLine('raw consumer running');
    let brokerBefore = brokerCpu();
    let machineBefore = machineTicks();
    const raw = JSON.parse(await rawConsumer.nextLine('raw consumer')) as Timing;
    raw.brokerCpuMs = brokerCpu() - brokerBefore;
    raw.machineBusy = machineBusySince(machineBefore);
    await rawConsumer.stop();

    const file = join(dir, 'consumers.json');
    writeFileSync(file, JSON.stringify([{ name: 'bench', kind, url, appId: setup.appId, source }]));
    oncely.process.stdin!.write(`go ${file}\n`);
    await oncely.nextLine('oncely running');
    brokerBefore = brokerCpu();
    machineBefore = machineTicks();
    const result = JSON.parse(await oncely.nextLine('oncely consumer')) as Timing & {
      mainThreadCpuMs: number;
      loopBusy: number;
      created: number;
      duplicate: number;
      dead: number;
    };
    result.brokerCpuMs = brokerCpu() - brokerBefore;
    result.machineBusy = machineBusySince(machineBefore);
    // It exits by itself once closed (and writes its CPU profile on the way out).
    if (oncely.process.exitCode === null) await new Promise((r) => oncely.process.once('exit', r));
    if (result.created !== unique || result.duplicate !== payloads.length - unique || result.dead !== 0) {
      throw new Error(`${kind}: expected ${unique} created and none dead, got ${JSON.stringify(result)}`);
    }
    return { raw, oncely: result };
  } finally {
    await oncely.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function runBroker(kind: ConsumerKind, o: ReturnType<typeof options>) {
  const broker = await starters[kind].start();
  try {
    const rounds = [];
    for (let r = 0; r < o.rounds; r++) rounds.push(await round(broker, kind, `bench${r}`, o));
    const perSecond = (t: Timing) => (o.messages * 1000) / t.ms;
    const perMessage = (ms: number) => (ms * 1000) / o.messages;
    const cpuPerMessage = (t: Timing) => perMessage(t.cpuMs);
    return {
      oncelyMainCpu: median(rounds.map((r) => perMessage(r.oncely.mainThreadCpuMs))),
      loopBusy: median(rounds.map((r) => r.oncely.loopBusy)),
      brokerCpuRaw: median(rounds.map((r) => perMessage(r.raw.brokerCpuMs!))),
      brokerCpuOncely: median(rounds.map((r) => perMessage(r.oncely.brokerCpuMs!))),
      machineRaw: median(rounds.map((r) => r.raw.machineBusy!)),
      machineOncely: median(rounds.map((r) => r.oncely.machineBusy!)),
      raw: median(rounds.map((r) => perSecond(r.raw))),
      oncely: median(rounds.map((r) => perSecond(r.oncely))),
      ratios: rounds.map((r) => perSecond(r.oncely) / perSecond(r.raw)),
      rawCpu: median(rounds.map((r) => cpuPerMessage(r.raw))),
      oncelyCpu: median(rounds.map((r) => cpuPerMessage(r.oncely))),
    };
  } finally {
    await broker.destroy();
  }
}

export default async function main(args: string[]): Promise<void> {
  const o = options(args);
  console.log(
    `queues: ${o.messages} deliveries (${Math.round(o.republished * 100)} % republished), ${o.rounds} rounds, durability ${o.durability}`,
  );
  console.log(
    'broker        raw msg/s  oncely msg/s  oncely/raw (median; each round)  CPU µs/msg raw, oncely',
  );
  for (const kind of o.brokers) {
    if (!starters[kind]?.binary()) {
      console.log(`${kind.padEnd(12)}  skipped: not installed`);
      continue;
    }
    const r = await runBroker(kind, o);
    const ratios = r.ratios.map((x) => x.toFixed(2)).join(', ');
    console.log(
      `${kind.padEnd(12)}  ${Math.round(r.raw).toString().padStart(9)}  ${Math.round(r.oncely).toString().padStart(12)}  ${median(r.ratios).toFixed(2).padStart(10)} (${ratios})`.padEnd(
        72,
      ) + `${r.rawCpu.toFixed(1)}, ${r.oncelyCpu.toFixed(1)}`,
    );
    const pct = (x: number) => `${Math.round(x * 100)} %`;
    console.log(
      `${''.padEnd(12)}  oncely: main thread ${r.oncelyMainCpu.toFixed(1)} µs/msg (event loop busy ${pct(r.loopBusy)}), ` +
        `other threads ${(r.oncelyCpu - r.oncelyMainCpu).toFixed(1)}; broker server ${r.brokerCpuRaw.toFixed(1)} ` +
        `µs/msg under raw, ${r.brokerCpuOncely.toFixed(1)} under oncely; machine busy ${pct(r.machineRaw)} ` +
        `under raw, ${pct(r.machineOncely)} under oncely`,
    );
  }
}
