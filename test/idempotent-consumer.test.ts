// The idempotent-consumer library, demonstrated: "add 100 to account X" messages, each published once or
// twice, consumed from a real Redis stream by two concurrent consumers (each with its own connection to one
// SQLite database). Each of the three strategies ends with the right balances; the naive check-then-act,
// under the same load, ends with more money than was ever sent.
import { rmSync } from 'node:fs';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createConsumerRunner, type ConsumerRunner } from '../src/consumers/consumer-runner.js';
import { createRedisStreamBroker } from '../src/consumers/redis-stream-broker.js';
import type { Store } from '../src/store/store.js';
import {
  accountHandler,
  balances,
  createAccounts,
  strategies,
  type AddToAccount,
  type Strategy,
} from '../examples/idempotent-consumer/account-consumer.js';
import { redisStreamClient, type BrokerClient } from './broker-clients.js';
import { redisBinary, startRedis, type TestBroker } from './brokers.js';
import { openStore, tempDir, waitFor } from './harness.js';

const accounts = ['X', 'Y', 'Z', 'W'];
const perAccount = 40;

/** 160 messages of +100 over four accounts; every other one is published twice, right after itself. */
function messages(): { unique: AddToAccount[]; published: string[] } {
  const unique: AddToAccount[] = [];
  for (let n = 0; n < perAccount; n++) {
    for (const account of accounts) {
      unique.push({ messageId: `${account}-${n}`, account, amount: 100, version: n });
    }
  }
  const published = unique.flatMap((m, i) => (i % 2 === 0 ? [m, m] : [m]).map((x) => JSON.stringify(x)));
  return { unique, published };
}

describe.skipIf(!redisBinary())('idempotent consumer: add 100 to account X', () => {
  let redis: TestBroker;
  let producer: BrokerClient;
  const dir = tempDir('oncely-accounts-');

  beforeAll(async () => {
    redis = await startRedis();
    producer = await redisStreamClient(redis.url);
  }, 30_000);

  afterAll(async () => {
    await producer?.close();
    await redis?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Runs two concurrent consumers of one group until every delivery is settled; returns what they did. */
  async function consume(strategy: Strategy) {
    // Two stores on one database (this project's store), as two instances would have.
    const database = join(dir, `${strategy}-${basename(dir)}`);
    const stores: Store[] = [await openStore(database), await openStore(database)];
    await createAccounts(stores[0]!, accounts);
    const { unique, published } = messages();
    const runners: ConsumerRunner[] = stores.map((store, i) =>
      createConsumerRunner({
        name: `accounts-${i}`,
        broker: createRedisStreamBroker({
          url: redis.url,
          stream: strategy,
          group: 'accounts',
          consumer: `c${i}`,
        }),
        handle: accountHandler(store, strategy, 'accounts'),
        batchSize: 16,
        // The version strategy redelivers a change that arrived before its predecessor: allow for it.
        maxDeliveries: 20,
        backoff: { initialMs: 20, maxMs: 200 },
      }),
    );
    for (const r of runners) r.start();
    await producer.publish(strategy, published);
    const settled = () =>
      runners
        .map((r) => r.status())
        .reduce((n, s) => n + (s.acked.applied ?? 0) + (s.acked.duplicate ?? 0) + s.deadLettered, 0);
    await waitFor(() => settled() === published.length, 30_000);
    await Promise.all(runners.map((r) => r.close()));
    const result = {
      unique,
      published,
      applied: runners.reduce((n, r) => n + (r.status().acked.applied ?? 0), 0),
      perConsumer: runners.map((r) => r.status().received),
      deadLettered: runners.reduce((n, r) => n + r.status().deadLettered, 0),
      balances: await balances(stores[0]!, strategy),
    };
    for (const s of stores) await s.close();
    return result;
  }

  const right = Object.fromEntries(accounts.map((a) => [a, 100 * perAccount]));

  it.each(strategies.filter((s) => s !== 'naive'))(
    '%s: every account gets 100 per message, once',
    async (strategy) => {
      const r = await consume(strategy);
      // Both consumers really took part, and the repeats really arrived.
      expect(r.perConsumer.every((n) => n > 0)).toBe(true);
      expect(r.published.length).toBeGreaterThan(r.unique.length);
      expect(r.deadLettered).toBe(0);
      expect(r.applied).toBe(r.unique.length);
      expect(r.balances).toEqual(right);
    },
  );

  it('naive check-then-act (check, add, record as three steps) double-counts under the same load', async () => {
    const r = await consume('naive');
    expect(r.perConsumer.every((n) => n > 0)).toBe(true);
    expect(r.applied).toBeGreaterThan(r.unique.length);
    const total = Object.values(r.balances).reduce((a, b) => a + b, 0);
    expect(total).toBeGreaterThan(100 * r.unique.length);
    console.info(
      `naive: ${r.applied} applications of ${r.unique.length} messages; ${total - 100 * r.unique.length} too much`,
    );
  });
});
