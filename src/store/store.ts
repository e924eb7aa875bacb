// The Store contract: a Kysely handle over one schema, plus the few things that differ per database, as
// named capabilities and adapter methods. Callers import this interface only; the composition root picks
// the adapter (sqlite/ or postgres/), and no caller asks which one it got.
import type { CompiledQuery, Kysely, Transaction } from 'kysely';
import type { Database, EventsTable } from './schema.js';

export type Tx = Transaction<Database>;

/** An event row before its stream position is taken (a new event is not expired). */
export type EventRow = Omit<EventsTable, 'pos' | 'expired_at'>;

export interface ConversationRef {
  appId: string;
  conversationId: string;
}

/**
 * Lock order. Every transaction that writes events takes its row locks in this one global order, so two
 * writers (several connections, several instances, a batch and a recall) never wait on each other in a
 * cycle:
 *   1. conversation rows, sorted by (app id, conversation id) — `lockConversations` (or the seq update),
 *      before reading what they guard;
 *   2. idempotency key rows, claimed in (app id, scope, key) order — a claim is an insert under the primary
 *      key, which waits for an uncommitted claim of the same key;
 *   3. event rows being changed (a recall's message) — only under the lock of their conversation;
 *   4. the stream-position counter, last and once — `insertEvents`, the last write before commit, so that
 *      it is held only for that statement and the commit.
 * Where one transaction runs at a time (SQLite) every lock is held already; the order costs nothing there.
 */
export interface Store {
  /**
   * Transactions that may run at the same time: 1 where one writer runs at a time (SQLite), the pool size
   * on PostgreSQL. Code that queues writes may keep this many under way.
   */
  readonly concurrentTransactions: number;
  /**
   * Row locks that a concurrent transaction can skip (`FOR UPDATE SKIP LOCKED`): claims by several instances
   * then share the rows without waiting on each other. False where one writer runs at a time (SQLite), whose
   * `UPDATE … WHERE id IN (SELECT … LIMIT n) RETURNING` is already atomic.
   */
  readonly supportsSkipLocked: boolean;
  /**
   * A table keyed by one `integer` column stores its rows in that key's order, with no index of its own for
   * it (SQLite's rowid tables; in PostgreSQL's heap a primary key is an index like any other): the events
   * table is keyed by its stream position there (migration 0012), and reads by position go through the table
   * itself rather than an events_pos index.
   */
  readonly integerKeyStoresRows: boolean;
  /** The query handle; every query is portable Kysely. */
  readonly db: Kysely<Database>;
  /** Creates or upgrades the schema; safe to run at every start, also by several instances at once. */
  migrate(): Promise<string[]>;
  /**
   * Runs `fn` in one transaction (read committed on PostgreSQL), committed at the configured durability
   * before it resolves. When it rejects, nothing of it was written — except when the database went away
   * during the commit itself (`store_unavailable`): then the commit's outcome is unknown, and a retry with
   * the same idempotency key either replays it or writes it.
   */
  transaction<T>(fn: (tx: Tx) => Promise<T>): Promise<T>;
  /**
   * Locks these conversation rows until commit (step 1 of the lock order above), in (app id, conversation
   * id) order whatever order they are given in, so that what the transaction then reads of them
   * (membership, a message's recall state) cannot change before it commits. Absent rows are skipped. An
   * adapter whose transactions already exclude each other does nothing.
   */
  lockConversations(tx: Tx, conversations: readonly ConversationRef[]): Promise<void>;
  /**
   * Takes the next stream positions for `events`, in the given order, and inserts the events with them;
   * resolves to the first position (the others follow it without gaps). It must be the transaction's last
   * write (lock order step 4): the position counter is a lock every event transaction takes, held from here
   * to the commit. Invariant 3: positions are gapless and handed out in commit order (realtime/cursor.ts).
   */
  insertEvents(tx: Tx, events: EventRow[]): Promise<number>;
  /**
   * Makes rows erased by committed transactions unreadable from the table (used after a recall): no old
   * version of the row is left for SQL or page inspection. What remains on disk differs per adapter (README:
   * "Recall erasure").
   */
  scrub(): Promise<void>;
  /**
   * Brings the query planner's statistics up to date where the database does not keep them by itself
   * (SQLite: `PRAGMA optimize`, which the adapter also runs at start, periodically and at close). The hot
   * reads' plans do not depend on it (test/query-plans.test.ts checks them without statistics too), but
   * the planner's choices elsewhere do.
   */
  optimize(): Promise<void>;
  /**
   * Writes a consistent copy of the database to `destination` while it stays in use (SQLite's online backup),
   * for `oncely backup`. Absent where the database has its own tools (PostgreSQL: pg_dump).
   */
  backup?(destination: string): Promise<void>;
  /**
   * Runs a compiled read outside any transaction and answers its rows as arrays of column values, in the
   * select's order: the rows `db.executeQuery` would give, without making an object of each. For reads of
   * thousands of rows (a catch-up page), where making the objects costs as much as the read.
   */
  readRows(query: CompiledQuery): Promise<unknown[][]>;
  /** Throws when the database cannot answer (readiness). */
  ping(): Promise<void>;
  close(): Promise<void>;
}
