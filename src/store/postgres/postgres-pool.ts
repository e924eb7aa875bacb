// The connection pool under the PostgreSQL store: `pg`'s Pool, int8 read as numbers, and every failure to
// reach the database turned into one `store_unavailable` error, whichever query or connect it hit.
import pg from 'pg';
import type { PostgresPool, PostgresPoolClient } from 'kysely';
import { storeUnavailable } from '../../errors.js';
import type { WriteOutage } from '../write-outage.js';

export interface PostgresPoolOptions {
  connectionString: string;
  /** Connections kept at most; each runs one transaction at a time. */
  max: number;
  /**
   * `off` acknowledges a commit before its WAL is flushed (PostgreSQL's synchronous_commit): a crash of the
   * database may lose the last commits, never corrupt or half-apply one.
   */
  synchronousCommit: 'on' | 'off';
  /** How long a connect, or a wait for a free connection, may take before it fails as unavailable. */
  connectTimeoutMs: number;
  /** Errors of idle connections (the server restarted): reported, then the pool replaces them. */
  onIdleError(err: Error): void;
  /** Where a write the database refused for lack of disk goes (write-outage.ts). */
  outage: WriteOutage;
}

const int8Oid = 20;

/** int8 as a number where it fits (times, seqs, positions, counts); past 2^53 as an exact bigint. */
function parseInt8(text: string): number | bigint {
  const n = Number(text);
  return Number.isSafeInteger(n) ? n : BigInt(text);
}

const types: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === int8Oid && format !== 'binary'
      ? parseInt8
      : pg.types.getTypeParser(oid, format)) as pg.CustomTypesConfig['getTypeParser'],
};

const connectionErrnos = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
]);

/**
 * Whether an error means "the database is not there right now" rather than "this query is wrong":
 * socket errors, SQLSTATE class 08 (connection exception), the server shutting down or starting up
 * (57P01–57P03), too many connections (53300), and pg's own messages for a dead or timed-out connection.
 */
export function isUnavailableError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string') {
    if (connectionErrnos.has(code) || code.startsWith('08')) return true;
    if (['57P01', '57P02', '57P03', '53300'].includes(code)) return true;
  }
  return /Connection terminated|connection timeout|timeout exceeded when trying to connect|not queryable|Client was closed/i.test(
    err.message,
  );
}

/** PostgreSQL could not extend a file (SQLSTATE 53100 disk_full): it reads, but refuses writes. */
export function isDiskFullError(err: unknown): boolean {
  return err instanceof Error && (err as { code?: unknown }).code === '53100';
}

function translate(err: unknown, outage: WriteOutage): unknown {
  if (isDiskFullError(err)) return outage.failed(err);
  if (!isUnavailableError(err)) return err;
  return storeUnavailable(`the database is unavailable: ${(err as Error).message}`, err);
}

export interface GuardedPool extends PostgresPool {
  /** The pool itself, for direct use (scrub, bench). */
  readonly pg: pg.Pool;
  /** One statement on a pooled connection, its rows as arrays of column values (`rowMode: 'array'`). */
  queryArrays(text: string, values: readonly unknown[]): Promise<unknown[][]>;
}

/** A pool for Kysely's PostgresDialect whose connects and queries fail as `store_unavailable` on outages. */
export function createGuardedPool(options: PostgresPoolOptions): GuardedPool {
  const pool = new pg.Pool({
    connectionString: options.connectionString,
    max: options.max,
    types,
    application_name: 'oncely',
    options: `-c synchronous_commit=${options.synchronousCommit}`,
    connectionTimeoutMillis: options.connectTimeoutMs,
    keepAlive: true,
  });
  // Without a listener an idle connection's error (a restart of the server) would crash the process.
  pool.on('error', (err) => options.onIdleError(err));
  const watched = new WeakSet<pg.PoolClient>();

  return {
    pg: pool,
    async connect(): Promise<PostgresPoolClient> {
      let client: pg.PoolClient;
      try {
        client = await pool.connect();
      } catch (err) {
        throw translate(err, options.outage);
      }
      if (!watched.has(client)) {
        watched.add(client);
        // A checked-out connection that breaks between queries emits 'error' too; the next query on it
        // fails and the pool drops it on release.
        client.on('error', (err) => options.onIdleError(err));
      }
      const query = ((text: unknown, parameters?: readonly unknown[]) => {
        if (typeof text !== 'string') return client.query(text as never);
        return client.query(text, parameters as unknown[]).catch((err: unknown) => {
          throw translate(err, options.outage);
        });
      }) as unknown as PostgresPoolClient['query'];
      return { query, release: () => client.release() };
    },
    async queryArrays(text, values) {
      try {
        return (await pool.query<unknown[]>({ text, values: values as unknown[], rowMode: 'array' })).rows;
      } catch (err) {
        throw translate(err, options.outage);
      }
    },
    end: () => pool.end(),
  };
}
