// The embedded Store: one SQLite file through better-sqlite3 in WAL mode.
// `full` durability syncs the WAL on every commit, so an acknowledged message survives power loss.
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, SqliteDialect, sql, type SqliteDatabase } from 'kysely';
import type { Durability } from '../../config.js';
import { migrateToLatest } from '../migrations.js';
import type { Database } from '../schema.js';
import type { Store, Tx } from '../store.js';

export interface SqliteStoreOptions {
  /** A file path, or `:memory:`. */
  filename: string;
  durability: Durability;
}

export function sqliteFilename(databaseUrl: string): string {
  return databaseUrl.replace(/^sqlite:(\/\/)?/, '');
}

/**
 * Kysely prepares every query it runs; preparing is a large share of a small write's cost, and the same few
 * statements run for every message. Prepared statements are kept per SQL text (bounded: `in (…)` lists of
 * varying length make new texts).
 */
function withStatementCache(sqlite: BetterSqlite3.Database, max = 500): SqliteDatabase {
  const cache = new Map<string, BetterSqlite3.Statement>();
  return {
    close: () => sqlite.close(),
    prepare(text: string) {
      let statement = cache.get(text);
      if (!statement) {
        statement = sqlite.prepare(text);
        if (cache.size >= max) cache.delete(cache.keys().next().value!);
        cache.set(text, statement);
      }
      return statement;
    },
  };
}

export function createSqliteStore(options: SqliteStoreOptions): Store {
  if (options.filename !== ':memory:') mkdirSync(dirname(options.filename), { recursive: true });
  const sqlite = new BetterSqlite3(options.filename);
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma(`synchronous = ${options.durability === 'full' ? 'FULL' : 'NORMAL'}`);
  sqlite.pragma('busy_timeout = 5000');
  // A recalled body is overwritten with zeros in the page, not just unlinked.
  sqlite.pragma('secure_delete = ON');
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: withStatementCache(sqlite) }) });

  return {
    kind: 'sqlite',
    db,
    migrate: () => migrateToLatest(db as Kysely<unknown>),
    transaction: <T>(fn: (tx: Tx) => Promise<T>) => db.transaction().execute(fn),
    async scrub() {
      // Old page images of an erased row live on in the WAL until a checkpoint truncates it.
      await sql`PRAGMA wal_checkpoint(TRUNCATE)`.execute(db);
    },
    async ping() {
      await sql`select 1`.execute(db);
    },
    close: () => db.destroy(),
  };
}
