// The embedded Store: one SQLite file through better-sqlite3 in WAL mode.
// `full` durability syncs the WAL after every commit, before the commit's caller goes on, so an acknowledged
// message survives power loss.
import { chmodSync, closeSync, existsSync, mkdirSync, openSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, SqliteDialect, sql, type SqliteDatabase, type SqliteStatement } from 'kysely';
import type { Durability } from '../../config.js';
import { coalesced } from '../coalesced.js';
import { migrateToLatest } from '../migrations/index.js';
import type { Database, EventsTable } from '../schema.js';
import { preparedQuery, preparedRowsQuery } from '../prepared-query.js';
import type { Store, Tx } from '../store.js';
import type { Logger } from '../../observability/logger.js';
import { createWriteOutage, probeWrite, type WriteOutage } from '../write-outage.js';
import { createCheckpointer, type Checkpointer } from './sqlite-checkpointer.js';

export interface SqliteStoreOptions {
  /** A file path, or `:memory:`. */
  filename: string;
  durability: Durability;
  /**
   * How often the planner's statistics are refreshed (`PRAGMA optimize`, cheap when nothing changed);
   * 0 leaves it to start and close. @defaultValue 3_600_000 (hourly, as SQLite advises for long-lived
   * connections)
   */
  optimizeIntervalMs?: number;
  /** Where a failed periodic `PRAGMA optimize` or WAL checkpoint is reported. @defaultValue a process warning */
  logger?: Logger;
}

export function sqliteFilename(databaseUrl: string): string {
  return databaseUrl.replace(/^sqlite:(\/\/)?/, '');
}

/**
 * Kysely prepares every query it runs; preparing is a large share of a small write's cost, and the same few
 * statements run for every message. Prepared statements are kept per SQL text (bounded: `in (…)` lists of
 * varying length make new texts).
 */
function withStatementCache(sqlite: BetterSqlite3.Database, outage: WriteOutage, max = 500): SqliteDatabase {
  const cache = new Map<string, SqliteStatement>();
  return {
    close: () => sqlite.close(),
    prepare(text: string) {
      // After a write the disk refused, SQLite may have rolled the transaction back itself; Kysely's rollback
      // would then fail ("no transaction is active") and its error would replace the real cause.
      if (text === 'rollback' && !sqlite.inTransaction) return nothingToRollBack;
      let statement = cache.get(text);
      if (!statement) {
        statement = guarded(sqlite.prepare(text), outage);
        if (cache.size >= max) cache.delete(cache.keys().next().value!);
        cache.set(text, statement);
      }
      return statement;
    },
  };
}

/** SQLite's answer to a write the disk refused: full, or an I/O error (EFBIG past a file-size limit, EIO). */
function isWriteRefused(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' && (code === 'SQLITE_FULL' || code.startsWith('SQLITE_IOERR'));
}

/** A statement whose refused writes become `store_unavailable` (write-outage.ts), whatever ran it. */
function guarded(statement: BetterSqlite3.Statement, outage: WriteOutage): SqliteStatement {
  const refused = (err: unknown) => (isWriteRefused(err) ? outage.failed(err) : err);
  return {
    reader: statement.reader,
    all(parameters) {
      try {
        return statement.all(parameters);
      } catch (err) {
        throw refused(err);
      }
    },
    run(parameters) {
      try {
        return statement.run(parameters);
      } catch (err) {
        throw refused(err);
      }
    },
    iterate(parameters) {
      try {
        return statement.iterate(parameters);
      } catch (err) {
        throw refused(err);
      }
    },
  };
}

const nothingToRollBack: SqliteStatement = {
  reader: false,
  all: () => [],
  run: () => ({ changes: 0, lastInsertRowid: 0 }),
  iterate: () => [][Symbol.iterator](),
};

/** The WAL's flush failed for lack of space (or a failing device): the commit's outcome is not durable. */
const fileWriteErrnos = new Set(['ENOSPC', 'EFBIG', 'EDQUOT', 'EIO']);

/**
 * Flushes the WAL file to disk with fdatasync on the libuv thread pool, so the event loop keeps parsing
 * requests (and the next group commit keeps building) while the disk works. A flush covers every write made
 * before it started; a caller arriving while one runs waits for it and then for one more, which all the
 * callers that arrived meanwhile share. Writes outside a transaction (auto-commit) become durable with the
 * next transaction's flush.
 */
function walSyncer(walPath: string): { sync(): Promise<void>; close(): Promise<void> } {
  // Opened once: SQLite keeps the WAL file (truncating, never replacing it) while its connection is open.
  let file: Promise<FileHandle> | undefined;
  const flushes = coalesced(async () => {
    file ??= open(walPath, 'r');
    try {
      await (await file).datasync();
    } catch (err) {
      // No WAL yet (a fresh database before its first write): nothing was committed to it to flush.
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      file = undefined;
    }
  });
  return {
    sync: () => flushes.run(),
    async close() {
      await flushes.settled();
      await (await file)?.close();
    },
  };
}

/**
 * The database holds every message and the apps' secrets: its directory is made 0700 and its files 0600.
 * SQLite gives the WAL and shared-memory files the mode of the database file, so creating that file first
 * covers them; files of an older start, made 0644, are narrowed.
 */
function ownerOnly(filename: string): void {
  mkdirSync(dirname(filename), { recursive: true, mode: 0o700 });
  if (!existsSync(filename)) closeSync(openSync(filename, 'a', 0o600));
  for (const file of [filename, `${filename}-wal`, `${filename}-shm`]) {
    if (existsSync(file)) chmodSync(file, 0o600);
  }
}

/** Events per insert statement: 12 columns each, well under SQLite's bound-parameter limit. */
const insertChunk = 1000;

const takePositionsQuery = preparedQuery(['n'] as const, (db, p) =>
  db
    .updateTable('counters')
    .set((eb) => ({ value: eb('value', '+', p.n) }))
    .where('name', '=', 'pos')
    .returning('value'),
);

const eventColumns = [
  'id',
  'app_id',
  'conversation_id',
  'seq',
  'pos',
  'type',
  'sender_id',
  'body',
  'client_msg_id',
  'subject_id',
  'created_at',
  'recalled_at',
] as const satisfies ReadonlyArray<keyof EventsTable>;

const insertEventsQuery = preparedRowsQuery(eventColumns, [] as const, (db, rows) =>
  db.insertInto('events').values(rows),
);

export function createSqliteStore(options: SqliteStoreOptions): Store {
  if (options.filename !== ':memory:') ownerOnly(options.filename);
  const sqlite = new BetterSqlite3(options.filename);
  sqlite.pragma('journal_mode = WAL');
  // For `full` the WAL is synced by `syncWal` below, off the event loop, rather than by SQLite's own
  // synchronous=FULL, whose fsync inside COMMIT would stall every request for the length of a disk flush.
  // NORMAL keeps SQLite's own syncs at checkpoints, so the database file stays consistent either way.
  sqlite.pragma('synchronous = NORMAL');
  sqlite.pragma('busy_timeout = 5000');
  // A recalled body is overwritten with zeros in the page, not just unlinked.
  sqlite.pragma('secure_delete = ON');
  // Statement journals in memory. A multi-row statement inside a transaction keeps the pages it changes in a
  // statement journal (to undo itself alone on a constraint error); past 64 KiB — a group commit's event
  // insert with its five indexes — SQLite spills it to a temporary file, written and dropped per statement:
  // a tenth of a group commit's CPU went to those writes (profile in README, "Ingest").
  sqlite.pragma('temp_store = MEMORY');
  const outage = createWriteOutage(options.logger);
  const db = new Kysely<Database>({
    dialect: new SqliteDialect({ database: withStatementCache(sqlite, outage) }),
  });
  const onFile = options.filename !== ':memory:';
  const wal = options.durability === 'full' && onFile ? walSyncer(`${options.filename}-wal`) : undefined;
  let checkpointer: Checkpointer | undefined;
  if (onFile) {
    // Checkpoints leave the commit path for a thread of their own (sqlite-checkpointer.ts).
    sqlite.pragma('wal_autocheckpoint = 0');
    checkpointer = createCheckpointer({ filename: options.filename }, (message) => {
      // A full disk fails every checkpoint (ten a second): one incident, logged once.
      if (/database or disk is full|disk I\/O error/.test(message))
        return void outage.failed(new Error(message));
      if (options.logger) options.logger.error({ message }, 'WAL checkpoint failed');
      else process.emitWarning(`WAL checkpoint failed: ${message}`);
    });
  }

  // SQLite's advice for a long-lived connection: `optimize=0x10002` once the schema is there (it also
  // analyzes tables that never were), plain `optimize` every few hours and before closing. Each analysis
  // is bounded by SQLite's own temporary analysis_limit, so it stays short on a large database.
  const optimize = async (first = false) => {
    await sql.raw(`PRAGMA optimize${first ? '=0x10002' : ''}`).execute(db);
  };
  const reportOptimizeError = (err: unknown) => {
    if (options.logger) options.logger.warn({ err }, 'PRAGMA optimize failed');
    else process.emitWarning(`PRAGMA optimize failed: ${String(err)}`);
  };
  const optimizeEveryMs = options.optimizeIntervalMs ?? 3_600_000;
  /** Statements of `readRows`, kept per SQL text like Kysely's (withStatementCache), answering arrays. */
  const rawStatements = new Map<string, BetterSqlite3.Statement>();
  let optimizeTimer: ReturnType<typeof setInterval> | undefined;
  return {
    db,
    // better-sqlite3 has one connection, and Kysely runs one transaction at a time on it.
    concurrentTransactions: 1,
    supportsSkipLocked: false,
    integerKeyStoresRows: true,
    async migrate() {
      const applied = await migrateToLatest(db as Kysely<unknown>, this);
      await optimize(true);
      if (optimizeEveryMs > 0 && !optimizeTimer) {
        optimizeTimer = setInterval(() => void optimize().catch(reportOptimizeError), optimizeEveryMs);
        optimizeTimer.unref();
      }
      return applied;
    },
    optimize: () => optimize(),
    async transaction<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
      const result = await db.transaction().execute(fn);
      // Invariant 2: the caller answers only after this commit is on disk.
      if (wal) {
        await wal.sync().catch((err: unknown) => {
          throw fileWriteErrnos.has((err as NodeJS.ErrnoException).code ?? '') ? outage.failed(err) : err;
        });
      }
      return result;
    },
    // One connection, and Kysely runs its transactions one at a time: no other transaction can change a
    // conversation between this one's reads and its commit, so there is nothing to lock.
    async lockConversations() {},
    async insertEvents(tx, events) {
      if (events.length === 0) throw new Error('insertEvents needs at least one event');
      const { rows } = await takePositionsQuery(tx, { n: events.length });
      const first = Number(rows[0]!.value) - events.length + 1;
      const withPos = events.map((e, i) => ({
        id: e.id,
        app_id: e.app_id,
        conversation_id: e.conversation_id,
        seq: e.seq,
        pos: first + i,
        type: e.type,
        sender_id: e.sender_id,
        body: e.body,
        client_msg_id: e.client_msg_id,
        subject_id: e.subject_id,
        created_at: e.created_at,
        recalled_at: e.recalled_at,
      }));
      // Chunks stay under SQLite's limit of bound parameters (32,766).
      for (let i = 0; i < withPos.length; i += insertChunk) {
        await insertEventsQuery(tx, withPos.slice(i, i + insertChunk));
      }
      return first;
    },
    async scrub() {
      // Old page images of an erased row live on in the WAL until a checkpoint truncates it. A checkpoint
      // already running on the checkpointer's thread makes this one answer busy at once: try again.
      for (let attempt = 1; ; attempt++) {
        const { rows } = await sql<{ busy: number }>`PRAGMA wal_checkpoint(TRUNCATE)`.execute(db);
        if (Number(rows[0]?.busy ?? 0) === 0) return;
        if (attempt === 100) throw new Error('the WAL could not be truncated: the database stayed busy');
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    },
    async backup(destination) {
      // VACUUM INTO writes the database as one read transaction sees it, WAL included: a consistent snapshot
      // while writers go on (copying the files of a live WAL database is not one). SQLite's online backup API
      // starts over whenever another process commits between its steps, so on a large database under steady
      // sends it might never finish; one read transaction does.
      // A copy of the database is as secret as the database: made 0600 (and empty, as VACUUM INTO needs)
      // before SQLite writes into it.
      if (!existsSync(destination)) closeSync(openSync(destination, 'wx', 0o600));
      sqlite.prepare('VACUUM INTO ?').run(destination);
    },
    readRows(query) {
      // On the one connection once Kysely lends it: a statement run between the statements of a transaction
      // would see its uncommitted writes.
      return db.connection().execute(async () => {
        let statement = rawStatements.get(query.sql);
        if (!statement) {
          statement = sqlite.prepare(query.sql).raw(true);
          if (rawStatements.size >= 100) rawStatements.delete(rawStatements.keys().next().value!);
          rawStatements.set(query.sql, statement);
        }
        return statement.all(query.parameters as unknown[]) as unknown[][];
      });
    },
    async ping() {
      // While writes fail, readiness takes a write: a read alone answers on a full disk.
      if (outage.failing) await outage.probe(() => this.transaction((tx) => probeWrite(tx, Date.now())));
      else await sql`select 1`.execute(db);
    },
    async close() {
      clearInterval(optimizeTimer);
      // Statistics are an optimisation: failing to refresh them must not keep the store open.
      await optimize().catch(reportOptimizeError);
      // The checkpointer's connection first: the last connection to close checkpoints and removes the WAL.
      await checkpointer?.close();
      await db.destroy();
      await wal?.close();
    },
  };
}
