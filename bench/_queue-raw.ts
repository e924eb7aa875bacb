// The baseline of `bench/queues.ts`, in its own process: the broker's own consume-and-acknowledge rate with
// the same client library and the same batch and prefetch sizes as oncely's consumer, doing nothing with
// the messages. Usage: _queue-raw.ts <kind> <url> <source> <expected>; prints `running` once connected, then
// {"ms", "cpuMs"} from connected to done.
import { jetstream, jetstreamManager, AckPolicy, DeliverPolicy } from '@nats-io/jetstream';
import { connect as natsConnect } from '@nats-io/transport-node';
import amqp from 'amqplib';
import { Redis } from 'ioredis';
import { pushAhead } from '../src/consumers/broker.js';
import { consumerRunnerDefaults } from '../src/consumers/consumer-runner.js';

const [kind, url, source, expectedArg] = process.argv.slice(2) as [string, string, string, string];
const expected = Number(expectedArg);
// As oncely's consumer: batches of 1,000 (src/main.ts), the runner's default number in hand, the adapters'
// window for them.
const window = { batchSize: 1000, batchesInFlight: consumerRunnerDefaults.batchesInFlight };
const batch = window.batchSize;
const prefetch = pushAhead(window);

/** Wall and CPU time since the consumer connected (announced with a line `running`). */
function clock() {
  process.stdout.write('running\n');
  const wall = Date.now();
  const cpu = process.cpuUsage();
  return () => {
    const used = process.cpuUsage(cpu);
    return { ms: Date.now() - wall, cpuMs: (used.user + used.system) / 1000 };
  };
}
type Timing = ReturnType<ReturnType<typeof clock>>;

async function rabbitmq(): Promise<Timing> {
  const model = await amqp.connect(url);
  const ch = await model.createChannel();
  await ch.prefetch(prefetch);
  const done = clock();
  let seen = 0;
  await new Promise<void>((resolve) => {
    void ch.consume(source, (m) => {
      if (!m) return;
      seen++;
      // One frame acknowledges a batch, as oncely's consumer does for a fully committed batch.
      if (seen % batch === 0 || seen === expected) ch.ack(m, true);
      if (seen === expected) resolve();
    });
  });
  const timing = done();
  await model.close();
  return timing;
}

async function redisStream(): Promise<Timing> {
  const reader = new Redis(url);
  const writer = new Redis(url);
  await writer.xgroup('CREATE', source, 'raw', '0', 'MKSTREAM');
  const done = clock();
  let seen = 0;
  let acking: Promise<unknown> = Promise.resolve();
  while (seen < expected) {
    const reply = (await reader.xreadgroup(
      'GROUP',
      'raw',
      'c',
      'COUNT',
      batch,
      'BLOCK',
      1000,
      'STREAMS',
      source,
      '>',
    )) as Array<[string, Array<[string, string[]]>]> | null;
    const entries = reply?.[0]?.[1] ?? [];
    seen += entries.length;
    // Acknowledged on the other connection while the next batch is read.
    if (entries.length > 0) acking = writer.xack(source, 'raw', ...entries.map((e) => e[0]));
  }
  await acking;
  const timing = done();
  reader.disconnect();
  writer.disconnect();
  return timing;
}

async function jetStream(): Promise<Timing> {
  const nc = await natsConnect({ servers: url.replace(/^nats:\/\//, '') });
  const jsm = await jetstreamManager(nc);
  await jsm.consumers.add(source, {
    durable_name: 'raw',
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    max_ack_pending: 2 * prefetch,
  });
  const consumer = await jetstream(nc).consumers.get(source, 'raw');
  const done = clock();
  const messages = await consumer.consume({ max_messages: prefetch });
  let seen = 0;
  for await (const m of messages) {
    m.ack();
    if (++seen === expected) break;
  }
  await nc.flush();
  const timing = done();
  await nc.close();
  return timing;
}

const run = { rabbitmq, 'redis-stream': redisStream, jetstream: jetStream }[kind];
if (!run) throw new Error(`unknown kind ${kind}`);
process.stdout.write(`${JSON.stringify(await run())}\n`);
process.exit(0);
