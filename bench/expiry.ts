// `npm run bench -- expiry [--messages 10000] [--conversations 1000] [--rounds 5] [--store sqlite|postgres]`
// The write cost of message expiry at `messages` expiring messages per minute. In one in-process server
// (SQLite file, durability full; or the PostgreSQL of ONCELY_BENCH_DATABASE_URL), each round writes one
// minute's messages through the batch API — the baseline, measured in the same run — moves the clock past
// their retention, and runs the expiry sweep that erases them (the body updates, the watermarks, the scrub).
// Reported: CPU and wall time of the sweep beside the writes of the same messages, and the sweep's share of
// one core per minute.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ManualClock } from '../src/clock.js';
import { loadConfig } from '../src/config.js';
import { startOncely } from '../src/main.js';
import { createLogger } from '../src/observability/logger.js';
import { median } from './_processes.js';

const retentionSeconds = 60;

async function measured<T>(f: () => Promise<T>): Promise<{ value: T; cpuMs: number; wallMs: number }> {
  const cpu = process.cpuUsage();
  const t = performance.now();
  const value = await f();
  const used = process.cpuUsage(cpu);
  return { value, cpuMs: (used.user + used.system) / 1000, wallMs: performance.now() - t };
}

export default async function expiryBench(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      messages: { type: 'string', default: '10000' },
      conversations: { type: 'string', default: '1000' },
      rounds: { type: 'string', default: '5' },
    },
  });
  const messages = Number(values.messages);
  const conversationCount = Number(values.conversations);
  const rounds = Number(values.rounds);
  const dir = mkdtempSync(join(tmpdir(), 'oncely-expiry-bench-'));
  const clock = new ManualClock();
  const config = loadConfig({
    ONCELY_PORT: '0',
    ONCELY_DATA_DIR: dir,
    ONCELY_DATABASE_URL: process.env.ONCELY_BENCH_DATABASE_URL ?? `sqlite:${join(dir, 'oncely.db')}`,
    ONCELY_ADMIN_TOKEN: 'bench-admin-token-0123456789abcdef',
    ONCELY_LOG_LEVEL: 'silent',
    ONCELY_MESSAGE_RETENTION_SECONDS: String(retentionSeconds),
    // The bench runs the sweep itself, once a minute of messages has passed its retention.
    ONCELY_EXPIRY_SWEEP_INTERVAL_MS: '0',
  });
  const oncely = await startOncely(config, { clock, logger: createLogger('silent') });
  const s = oncely.services;
  try {
    const app = await s.apps.createApp('expiry-bench');
    const users = Array.from({ length: 50 }, (_, i) => `u${i}`);
    for (const u of users) await s.apps.upsertUser(app.id, u, null);
    const conversations: string[] = [];
    for (let i = 0; i < conversationCount; i++) {
      const members = [0, 1, 2, 3, 4].map((k) => users[(i + k * 7) % users.length]!);
      conversations.push((await s.conversations.create(app.id, { kind: 'group', members })).conversation.id);
    }
    const writes: Array<{ cpuMs: number; wallMs: number }> = [];
    const sweeps: Array<{ cpuMs: number; wallMs: number }> = [];
    let n = 0;
    for (let round = 1; round <= rounds; round++) {
      // One minute's messages, spread over the conversations, in batches of 1,000.
      const write = await measured(async () => {
        for (let sent = 0; sent < messages; sent += 1000) {
          const items = Array.from({ length: Math.min(1000, messages - sent) }, () => {
            const i = n++;
            const conversationId = conversations[i % conversations.length]!;
            return {
              idempotencyKey: `m${i}`,
              from: users[i % users.length]!,
              conversationId,
              body: { type: 'text' as const, text: `expiring message ${i} ${'x'.repeat(100)}` },
            };
          });
          const answer = await s.batch.send(app.id, { items });
          if (answer.summary.created !== items.length) throw new Error('a write failed');
        }
      });
      clock.advance((retentionSeconds + 1) * 1000);
      const sweep = await measured(() => s.expirySweeper.sweep());
      if (sweep.value !== messages) throw new Error(`the sweep erased ${sweep.value} of ${messages}`);
      writes.push(write);
      sweeps.push(sweep);
      console.log(
        `round ${round}: write ${write.cpuMs.toFixed(0)} ms CPU (${write.wallMs.toFixed(0)} ms wall); ` +
          `expire ${sweep.cpuMs.toFixed(0)} ms CPU (${sweep.wallMs.toFixed(0)} ms wall)`,
      );
    }
    const w = median(writes.map((x) => x.cpuMs));
    const e = median(sweeps.map((x) => x.cpuMs));
    const ew = median(sweeps.map((x) => x.wallMs));
    console.log(
      `\n${messages} messages per minute in ${conversationCount} conversations (${config.databaseUrl.split(':')[0]}), medians of ${rounds}:`,
    );
    console.log(`  writing them (baseline):  ${w.toFixed(0)} ms CPU`);
    console.log(`  expiring them:            ${e.toFixed(0)} ms CPU, ${ew.toFixed(0)} ms wall`);
    console.log(`  expiry / write:           ${(e / w).toFixed(3)}`);
    console.log(
      `  expiry's share of a core: ${((e / 60_000) * 100).toFixed(2)} % (one sweep of a minute's messages)`,
    );
  } finally {
    await oncely.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
