// PostgreSQL for benchmarks: a real server of its own in a temp dir, durable as in production (fsync and
// full_page_writes on, unlike the test harness's), with pg_stat_statements to show where the database's
// time goes; databases created on it per measured server; and the figures read back afterwards.
import pg from 'pg';
import { freePort } from '../test/free-port.js';
import { startPostgres, type PostgresServer } from '../test/postgres-server.js';

export interface BenchPostgres {
  server: PostgresServer;
  /** A fresh, empty database on the server; its URL. */
  createDatabase(name: string): Promise<string>;
  /** The server's settings that decide commit cost, as `name=value` (printed with the results). */
  settings(): Promise<string>;
  /** Forgets pg_stat_statements' figures so far (before the measured rounds). */
  resetStatements(): Promise<void>;
  /** The statements of `database` that took the most time since the reset, one line each. */
  topStatements(database: string, limit?: number): Promise<string[]>;
  /** Mean server time (ms) of the statements of `database` whose text starts with `prefix`, since the reset. */
  statementMeanMs(database: string, prefix: string): Promise<number>;
  /** WAL flushes (fdatasync) of the whole server since the reset, and their mean duration in ms. */
  walSyncs(): Promise<{ syncs: number; meanMs: number }>;
  destroy(): Promise<void>;
}

async function onDatabase<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

export async function startBenchPostgres(): Promise<BenchPostgres> {
  const server = await startPostgres({
    port: await freePort(),
    settings: {
      // Durable commits, as a production server has them (the test harness turns both off).
      fsync: 'on',
      full_page_writes: 'on',
      synchronous_commit: 'on',
      shared_buffers: '256MB',
      shared_preload_libraries: 'pg_stat_statements',
      'pg_stat_statements.track': 'all',
      // pg_stat_wal's sync time: what a COMMIT's flush costs on this disk (COMMIT's own statement time in
      // pg_stat_statements ends before the flush).
      track_wal_io_timing: 'on',
    },
  });
  const admin = server.url();
  await onDatabase(admin, (c) => c.query('create extension if not exists pg_stat_statements'));
  return {
    server,
    async createDatabase(name) {
      await onDatabase(admin, (c) => c.query(`create database "${name}"`));
      return server.url(name);
    },
    settings: () =>
      onDatabase(admin, async (c) => {
        const { rows } = await c.query<{ name: string; setting: string }>(
          `select name, setting from pg_settings where name in
             ('fsync', 'synchronous_commit', 'full_page_writes', 'wal_sync_method', 'commit_delay',
              'shared_buffers', 'max_wal_size')
           order by name`,
        );
        return rows.map((r) => `${r.name}=${r.setting}`).join(' ');
      }),
    async resetStatements() {
      await onDatabase(admin, async (c) => {
        await c.query('select pg_stat_statements_reset()');
        await c.query("select pg_stat_reset_shared('wal')");
      });
    },
    topStatements: (database, limit = 8) =>
      onDatabase(admin, async (c) => {
        const { rows } = await c.query<{ calls: string; total: number; mean: number; query: string }>(
          `select s.calls, s.total_exec_time as total, s.mean_exec_time as mean, s.query
           from pg_stat_statements s join pg_database d on d.oid = s.dbid
           where d.datname = $1 order by s.total_exec_time desc limit $2`,
          [database, limit],
        );
        return rows.map(
          (r) =>
            `${String(r.calls).padStart(7)} calls ${r.mean.toFixed(3).padStart(8)} ms mean ` +
            `${(r.total / 1000).toFixed(2).padStart(7)} s total  ${r.query.replace(/\s+/g, ' ').slice(0, 110)}`,
        );
      }),
    statementMeanMs: (database, prefix) =>
      onDatabase(admin, async (c) => {
        const { rows } = await c.query<{ mean: number | null }>(
          `select sum(s.total_exec_time) / nullif(sum(s.calls), 0) as mean
           from pg_stat_statements s join pg_database d on d.oid = s.dbid
           where d.datname = $1 and starts_with(ltrim(s.query), $2)`,
          [database, prefix],
        );
        return rows[0]?.mean ?? Number.NaN;
      }),
    walSyncs: () =>
      onDatabase(admin, async (c) => {
        const { rows } = await c.query<{ syncs: string; ms: number }>(
          'select wal_sync as syncs, wal_sync_time as ms from pg_stat_wal',
        );
        const syncs = Number(rows[0]?.syncs ?? 0);
        return { syncs, meanMs: syncs > 0 ? rows[0]!.ms / syncs : Number.NaN };
      }),
    destroy: () => server.destroy(),
  };
}

/**
 * The `q` quantile (0–1) of a Prometheus histogram's observations between two scrapes, interpolated within
 * its bucket as Prometheus's histogram_quantile does; NaN without observations.
 */
export function histogramQuantile(before: string, after: string, name: string, q: number): number {
  const buckets = (text: string) => {
    const out = new Map<number, number>();
    for (const m of text.matchAll(new RegExp(`^${name}_bucket\\{le="([^"]+)"\\} (\\S+)$`, 'gm'))) {
      out.set(m[1] === '+Inf' ? Infinity : Number(m[1]), Number(m[2]));
    }
    return out;
  };
  const b0 = buckets(before);
  const diff = [...buckets(after)]
    .map(([le, n]) => ({ le, n: n - (b0.get(le) ?? 0) }))
    .sort((a, b) => a.le - b.le);
  const total = diff.at(-1)?.n ?? 0;
  if (total === 0) return Number.NaN;
  const rank = q * total;
  let lower = 0;
  let below = 0;
  for (const { le, n } of diff) {
    if (n >= rank) {
      if (le === Infinity) return lower;
      return lower + ((le - lower) * (rank - below)) / Math.max(1, n - below);
    }
    lower = le;
    below = n;
  }
  return lower;
}
