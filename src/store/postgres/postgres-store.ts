// The Store for several instances: PostgreSQL through `pg` and Kysely's PostgresDialect. Transactions run
// concurrently, one per pooled connection, at read committed; the lock order of store.ts keeps them free of
// deadlocks. `full` durability is synchronous_commit=on: COMMIT returns after its WAL is flushed.
import { Kysely, PostgresDialect, sql } from 'kysely';
import type { Durability } from '../../config.js';
import { coalesced } from '../coalesced.js';
import { migrateToLatest } from '../migrations/index.js';
import type { Database } from '../schema.js';
import type { EventRow, Store, Tx } from '../store.js';
import type { Logger } from '../../observability/logger.js';
import { createWriteOutage, probeWrite } from '../write-outage.js';
import { createGuardedPool } from './postgres-pool.js';

export interface PostgresStoreOptions {
  /** `postgres://user:password@host:port/database`, with any libpq-style parameters pg understands. */
  connectionString: string;
  /** Connections in the pool: the transactions this instance runs at once. @defaultValue 10 */
  poolMax?: number;
  durability: Durability;
  /** A connect, or a wait for a free connection, longer than this answers store_unavailable. @defaultValue 5000 */
  connectTimeoutMs?: number;
  /** How long a scrub waits for transactions older than the recall before it vacuums. @defaultValue 5000 */
  scrubWaitMs?: number;
  /** Reports connection errors the pool recovers from by itself (the database restarted). */
  onConnectionError?: (err: Error) => void;
  /**
   * Reports how long each transaction held the stream-position counter: from its lock in `insertEvents`
   * (the wait for it excluded) to the end of the commit.
   */
  onCounterHeld?: (ms: number) => void;
  /** Where a write outage (a full disk) is logged, once per incident. @defaultValue a process warning */
  logger?: Logger;
}

export const postgresStoreDefaults = { poolMax: 10, connectTimeoutMs: 5000, scrubWaitMs: 5000 } as const;

export function createPostgresStore(options: PostgresStoreOptions): Store {
  const poolMax = options.poolMax ?? postgresStoreDefaults.poolMax;
  const outage = createWriteOutage(options.logger);
  const pool = createGuardedPool({
    connectionString: options.connectionString,
    max: poolMax,
    synchronousCommit: options.durability === 'full' ? 'on' : 'off',
    connectTimeoutMs: options.connectTimeoutMs ?? postgresStoreDefaults.connectTimeoutMs,
    onIdleError: (err) => options.onConnectionError?.(err),
    outage,
  });
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  const scrubWaitMs = options.scrubWaitMs ?? postgresStoreDefaults.scrubWaitMs;
  /** When each transaction's counter lock was taken (client clock), for the hold time. */
  const counterTakenAt = new WeakMap<Tx, number>();

  /**
   * VACUUM removes a row version only once no transaction may still see it, so first wait (bounded) until
   * every transaction that was running when this scrub began has ended: the recall's own commit is then
   * older than all of them. The wait is short, as every transaction of oncely's is.
   */
  async function waitForOlderTransactions(): Promise<void> {
    const { rows } = await sql<{
      xmax: string;
    }>`select pg_snapshot_xmax(pg_current_snapshot())::text as xmax`.execute(db);
    const xmax = rows[0]!.xmax;
    const deadline = Date.now() + scrubWaitMs;
    for (;;) {
      const done = await sql<{
        done: boolean;
      }>`select pg_snapshot_xmin(pg_current_snapshot()) >= ${xmax}::xid8 as done`.execute(db);
      if (done.rows[0]?.done || Date.now() > deadline) return;
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  const scrubs = coalesced(async () => {
    await waitForOlderTransactions();
    // Pruning the heap pages drops the old row versions, body and all (TOAST included). Index cleanup and
    // truncation are left to autovacuum: the body is in no index, and truncation would lock out readers.
    await sql`vacuum (index_cleanup off, truncate off) events`.execute(db);
  });

  return {
    db,
    concurrentTransactions: poolMax,
    supportsSkipLocked: true,
    integerKeyStoresRows: false,
    migrate() {
      return migrateToLatest(db as Kysely<unknown>, this);
    },
    async transaction<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
      let current: Tx | undefined;
      // Invariant 2: with synchronous_commit=on, COMMIT has returned only after its WAL is on disk.
      const result = await db.transaction().execute((tx) => {
        current = tx;
        return fn(tx);
      });
      const taken = current && counterTakenAt.get(current);
      if (taken !== undefined) options.onCounterHeld?.(performance.now() - taken);
      return result;
    },
    async lockConversations(tx, conversations) {
      if (conversations.length === 0) return;
      // Rows are locked in the order the sort hands them up: lock order step 1, by (app id, id).
      await sql`select 1 from conversations
        where (app_id, id) in (select * from unnest(${conversations.map((c) => c.appId)}::text[],
                                                    ${conversations.map((c) => c.conversationId)}::text[]))
        order by app_id, id for update`.execute(tx);
    },
    async insertEvents(tx, events) {
      if (events.length === 0) throw new Error('insertEvents needs at least one event');
      const column = <K extends keyof EventRow>(k: K) => events.map((e) => e[k]);
      const sent = performance.now();
      // Lock order step 4, as the transaction's last statement: the update locks the counter row until the
      // commit, and the events take their positions from it in the same statement. Arrays instead of a
      // row list keep one statement text for any number of events.
      const { rows } = await sql<{ first: number; waited_ms: number }>`
        with counter as (
          update counters set value = value + ${events.length} where name = 'pos'
          returning value - ${events.length} + 1 as first, clock_timestamp() as locked_at
        ), inserted as (
          insert into events (id, app_id, conversation_id, seq, pos, type, sender_id, body, client_msg_id,
            subject_id, created_at, recalled_at)
          select e.id, e.app_id, e.conversation_id, e.seq, counter.first + e.n - 1, e.type, e.sender_id,
            e.body, e.client_msg_id, e.subject_id, e.created_at, e.recalled_at
          from counter, unnest(${column('id')}::text[], ${column('app_id')}::text[],
            ${column('conversation_id')}::text[], ${column('seq')}::int8[], ${column('type')}::text[],
            ${column('sender_id')}::text[], ${column('body')}::text[], ${column('client_msg_id')}::text[],
            ${column('subject_id')}::text[], ${column('created_at')}::int8[], ${column('recalled_at')}::int8[])
            with ordinality as e(id, app_id, conversation_id, seq, type, sender_id, body, client_msg_id,
              subject_id, created_at, recalled_at, n)
        )
        select first, extract(epoch from locked_at - statement_timestamp()) * 1000 as waited_ms
        from counter`.execute(tx);
      const row = rows[0];
      if (!row) throw new Error('the pos counter row is missing');
      counterTakenAt.set(tx, sent + Number(row.waited_ms));
      return Number(row.first);
    },
    scrub: () => scrubs.run(),
    async optimize() {
      // Autovacuum keeps statistics by itself; this brings them up to date now (tests, after a bulk load).
      await sql`analyze`.execute(db);
    },
    readRows: (query) => pool.queryArrays(query.sql, query.parameters),
    async ping() {
      // While writes fail, readiness takes a write: a read alone answers on a full disk.
      if (outage.failing) await outage.probe(() => this.transaction((tx) => probeWrite(tx, Date.now())));
      else await sql`select 1`.execute(db);
    },
    async close() {
      await scrubs.settled();
      await db.destroy();
    },
  };
}
