// The lecture's example, "add 100 to account X", consumed from a broker that delivers at least once, made
// exactly-once with each strategy of the idempotent-consumer library — and, for contrast, the naive
// check-then-act that double-counts when two deliveries of one message are handled at the same moment.
// Run it against a Redis stream (the runner works the same with the RabbitMQ and JetStream adapters):
//   npx tsx examples/idempotent-consumer/account-consumer.ts <unique-key|version|record-and-check> \
//     redis://127.0.0.1:6379 accounts ./data/accounts.db X,Y
// and add entries like XADD accounts * payload '{"messageId":"m1","account":"X","amount":100,"version":0}'.
import { hostname } from 'node:os';
import type { Delivery } from '../../src/consumers/broker.js';
import {
  createConsumerRunner,
  type BatchHandler,
  type Verdict,
} from '../../src/consumers/consumer-runner.js';
import {
  insertIfAbsent,
  recordAndApply,
  updateIfVersion,
  verdictOf,
  type Applied,
} from '../../src/consumers/idempotent-consumer.js';
import { createRedisStreamBroker } from '../../src/consumers/redis-stream-broker.js';
import { createSqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import type { Store } from '../../src/store/store.js';

/** "Add `amount` to `account`": the `version`-th change of that account (0 for its first). */
export interface AddToAccount {
  messageId: string;
  account: string;
  amount: number;
  version: number;
}

/** The example's own tables (the application's schema, not oncely's). */
type AccountTables = {
  accounts: { id: string; balance: number; version: number };
  account_entries: { message_id: string; account_id: string; amount: number };
};

export const strategies = ['unique-key', 'version', 'record-and-check', 'naive'] as const;
export type Strategy = (typeof strategies)[number];

const tables = (db: Store['db']) => db.withTables<AccountTables>();

export async function createAccounts(store: Store, ids: string[]): Promise<void> {
  const db = tables(store.db);
  await db.schema
    .createTable('accounts')
    .ifNotExists()
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('balance', 'bigint', (c) => c.notNull())
    .addColumn('version', 'integer', (c) => c.notNull())
    .execute();
  // Strategy 1's table: one entry per message, its id the unique key.
  await db.schema
    .createTable('account_entries')
    .ifNotExists()
    .addColumn('message_id', 'text', (c) => c.primaryKey())
    .addColumn('account_id', 'text', (c) => c.notNull())
    .addColumn('amount', 'bigint', (c) => c.notNull())
    .execute();
  for (const id of ids) {
    await db
      .insertInto('accounts')
      .values({ id, balance: 0, version: 0 })
      .onConflict((oc) => oc.column('id').doNothing())
      .execute();
  }
}

/** Balances: the sum of entries for the unique-key strategy (its effect is the entry), else the column. */
export async function balances(store: Store, strategy: Strategy): Promise<Record<string, number>> {
  const db = tables(store.db);
  const rows =
    strategy === 'unique-key'
      ? await db
          .selectFrom('account_entries')
          .select((eb) => ['account_id as id', eb.fn.sum<number>('amount').as('balance')])
          .groupBy('account_id')
          .execute()
      : await db.selectFrom('accounts').select(['id', 'balance']).execute();
  return Object.fromEntries(rows.map((r) => [r.id, Number(r.balance)]));
}

function addTo(store: Store, m: AddToAccount) {
  return async (tx: Parameters<Parameters<Store['transaction']>[0]>[0]) => {
    await tables(tx)
      .updateTable('accounts')
      .set((eb) => ({ balance: eb('balance', '+', m.amount) }))
      .where('id', '=', m.account)
      .execute();
  };
}

/** One message, applied once by `strategy`. */
export async function apply(
  store: Store,
  strategy: Strategy,
  consumer: string,
  m: AddToAccount,
): Promise<Applied | 'not-yet'> {
  switch (strategy) {
    case 'unique-key':
      return insertIfAbsent(store, (tx) =>
        tables(tx)
          .insertInto('account_entries')
          .values({ message_id: m.messageId, account_id: m.account, amount: m.amount })
          .onConflict((oc) => oc.column('message_id').doNothing())
          .executeTakeFirst(),
      );
    case 'version':
      return updateIfVersion(store, {
        read: (db) =>
          tables(db)
            .selectFrom('accounts')
            .select(['version', 'balance as state'])
            .where('id', '=', m.account)
            .executeTakeFirst(),
        check: (current) =>
          !current || current.version < m.version
            ? 'not-yet'
            : current.version > m.version
              ? 'duplicate'
              : 'apply',
        write: (tx, current) =>
          tables(tx)
            .updateTable('accounts')
            .set((eb) => ({ balance: eb('balance', '+', m.amount), version: current.version + 1 }))
            .where('id', '=', m.account)
            .where('version', '=', current.version)
            .executeTakeFirst(),
      });
    case 'record-and-check':
      return recordAndApply(store, { consumer, messageId: m.messageId }, addTo(store, m));
    case 'naive': {
      // WRONG, kept for contrast: check, add and record are three steps. Two deliveries of one message
      // handled at once both pass the check before either records, and both add.
      const seen = await store.db
        .selectFrom('consumed_messages')
        .select('message_id')
        .where('consumer', '=', consumer)
        .where('message_id', '=', m.messageId)
        .executeTakeFirst();
      if (seen) return 'duplicate';
      await store.transaction(addTo(store, m));
      await store.transaction((tx) =>
        tx
          .insertInto('consumed_messages')
          .values({ consumer, message_id: m.messageId, consumed_at: Date.now() })
          .onConflict((oc) => oc.columns(['consumer', 'message_id']).doNothing())
          .execute(),
      );
      return 'applied';
    }
  }
}

/**
 * The batch handler: deliveries are handled concurrently, as a consumer with a prefetch window does —
 * except that the version strategy applies one account's changes in version order.
 */
export function accountHandler(store: Store, strategy: Strategy, consumer: string): BatchHandler {
  return async (deliveries: Delivery[]) => {
    const verdicts: Verdict[] = new Array(deliveries.length);
    const parsed = deliveries.map((d) => JSON.parse(d.payload) as AddToAccount);
    const lanes = new Map<string, number[]>();
    parsed.forEach((m, i) => {
      const lane = strategy === 'version' ? m.account : String(i);
      lanes.set(lane, [...(lanes.get(lane) ?? []), i]);
    });
    await Promise.all(
      [...lanes.values()].map(async (lane) => {
        lane.sort((a, b) => parsed[a]!.version - parsed[b]!.version);
        for (const i of lane) verdicts[i] = verdictOf(await apply(store, strategy, consumer, parsed[i]!));
      }),
    );
    return verdicts;
  };
}

// Standalone: one consumer of a Redis stream into a SQLite file.
if (import.meta.url === `file://${process.argv[1]}`) {
  const [strategy, url, stream, file, accounts] = process.argv.slice(2) as [Strategy, ...string[]];
  if (!strategies.includes(strategy) || !url || !stream || !file || !accounts) {
    console.error(
      `usage: account-consumer.ts <${strategies.join('|')}> <redis-url> <stream> <sqlite-file> <X,Y,…>`,
    );
    process.exit(2);
  }
  const store = createSqliteStore({ filename: file, durability: 'full' });
  await store.migrate();
  await createAccounts(store, accounts.split(','));
  const consumer = `${hostname()}-${process.pid}`;
  const runner = createConsumerRunner({
    name: 'accounts',
    broker: createRedisStreamBroker({ url, stream, group: `accounts-${strategy}`, consumer }),
    handle: accountHandler(store, strategy, 'accounts'),
  });
  runner.start();
  process.once('SIGINT', () => void runner.close().then(() => store.close()));
}
