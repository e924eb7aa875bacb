// The Store contract: a Kysely handle over one schema, plus the few things that differ per database.
// Callers import this interface only; the composition root picks the adapter (sqlite/, later postgres/).
import type { Kysely, Transaction } from 'kysely';
import type { Database } from './schema.js';

export type Tx = Transaction<Database>;

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
