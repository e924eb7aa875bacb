// The Store contract: a Kysely handle over one schema, plus the few things that differ per database.
// Callers import this interface only; the composition root picks the adapter (sqlite/, later postgres/).
import type { Kysely, Transaction } from 'kysely';
import type { Database, EventsTable } from './schema.js';

export type Tx = Transaction<Database>;

/** An event row before its stream position is taken. */
export type EventRow = Omit<EventsTable, 'pos'>;

export interface ConversationRef {
  appId: string;
  conversationId: string;
}

/**
 * Row locks are taken in one global order by every transaction, so that concurrent writers (several
 * connections, several instances) never deadlock:
 * 1. conversation rows, sorted by (app id, conversation id) — `lockConversations`, or the seq update;
 * 2. idempotency key rows, claimed in (app id, scope, key) order;
 * 3. the stream-position counter, last and once — `insertEvents`, the last write before commit.
 */
export interface Store {
  /** Which adapter this is, for the rare query that must differ. */
  readonly kind: 'sqlite' | 'postgres';
  /**
   * Row locks that a concurrent transaction can skip (`FOR UPDATE SKIP LOCKED`): claims by several instances
   * then share the rows without waiting on each other. False where one writer runs at a time (SQLite), whose
   * `UPDATE … WHERE id IN (SELECT … LIMIT n) RETURNING` is already atomic.
   */
  readonly supportsSkipLocked: boolean;
  /** The query handle; every query is portable Kysely. */
  readonly db: Kysely<Database>;
  /** Creates or upgrades the schema; safe to run at every start. */
  migrate(): Promise<string[]>;
  /** Runs `fn` in one transaction, committed at the configured durability before it resolves. */
  transaction<T>(fn: (tx: Tx) => Promise<T>): Promise<T>;
  /**
   * Locks these conversation rows until commit, in (app id, conversation id) order, so that what the
   * transaction then reads of them (membership) cannot change before it commits. An adapter whose
   * transactions already exclude each other may do nothing.
   */
  lockConversations(tx: Tx, conversations: ConversationRef[]): Promise<void>;
  /**
   * Takes the next stream positions for `events`, in the given order, and inserts the events with them;
   * resolves to the first position (the others follow it without gaps). It must be the transaction's last
   * write: the position counter is a lock every event transaction takes, held from here to the commit.
   * Invariant 3: positions are gapless and handed out in commit order (realtime/cursor.ts says why).
   */
  insertEvents(tx: Tx, events: EventRow[]): Promise<number>;
  /** Makes erased rows unrecoverable from the database files (used after a recall). */
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
  /** Throws when the database cannot answer (readiness). */
  ping(): Promise<void>;
  close(): Promise<void>;
}
