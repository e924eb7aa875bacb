// The store the integration tests run on. Every test file runs once per store: each vitest project
// (vitest.config.ts) sets ONCELY_TEST_STORE, and the harness gives each server a database of that store.
// A test dir names its database on either store, so a server restarted on the same dir finds its data.
import { existsSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { inject } from 'vitest';
import pg from 'pg';

export type StoreName = 'sqlite' | 'postgres';

/** This test process's store. */
export const testStore: StoreName = process.env.ONCELY_TEST_STORE === 'postgres' ? 'postgres' : 'sqlite';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Superuser base URLs (`postgres://postgres@127.0.0.1:port`), one PostgreSQL server per test worker. */
    postgresServers: string[];
  }
}

/** This worker's PostgreSQL server (started once per worker by test/postgres-global-setup.ts). */
export function postgresServerUrl(database = 'postgres'): string {
  const servers = inject('postgresServers');
  if (!servers?.length) throw new Error('no PostgreSQL server was started for this test run');
  const worker = Number(process.env.VITEST_POOL_ID ?? '1');
  return `${servers[(worker - 1) % servers.length]}/${database}`;
}

function databaseName(dir: string): string {
  // mkdtemp's suffix is mixed case: the name is always quoted, so case keeps two dirs apart.
  return basename(dir)
    .replace(/[^A-Za-z0-9_-]/g, '_')
    .slice(0, 63);
}

async function onServer<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: postgresServerUrl() });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

/**
 * The ONCELY_DATABASE_URL of `dir`'s database, created empty on first use: a SQLite file in the dir, or a
 * PostgreSQL database named after it on this worker's server.
 */
export async function databaseUrl(dir: string, store: StoreName = testStore): Promise<string> {
  if (store === 'sqlite') return `sqlite:${join(dir, 'oncely.db')}`;
  const name = databaseName(dir);
  await onServer(async (c) => {
    const exists = await c.query('select 1 from pg_database where datname = $1', [name]);
    if (exists.rowCount === 0) await c.query(`create database "${name}"`);
  });
  return postgresServerUrl(name);
}

/** Deletes `dir`'s PostgreSQL database (a SQLite file goes with its dir). */
export async function dropDatabase(dir: string, store: StoreName = testStore): Promise<void> {
  if (store === 'sqlite') return;
  await onServer((c) => c.query(`drop database if exists "${databaseName(dir)}" with (force)`));
}

/**
 * What the store keeps of the events table, as one latin1 string to search for an erased body. SQLite: every
 * byte of the database file and its WAL. PostgreSQL: every row version — live, or dead and not yet vacuumed —
 * in the heap pages of `events` and of its TOAST table, read with pageinspect (bytes in a page's free space
 * and in the WAL are not row versions: README, "Recall erasure").
 */
export async function storedEventBytes(dir: string, store: StoreName = testStore): Promise<string> {
  if (store === 'sqlite') {
    const file = join(dir, 'oncely.db');
    return [file, `${file}-wal`]
      .filter((f) => existsSync(f))
      .map((f) => readFileSync(f).toString('latin1'))
      .join('');
  }
  const c = new pg.Client({ connectionString: postgresServerUrl(databaseName(dir)) });
  await c.connect();
  try {
    await c.query('create extension if not exists pageinspect');
    const { rows } = await c.query<{ t_data: Buffer }>(`
      select i.t_data
      from (select 'events'::regclass as rel
            union all select reltoastrelid::regclass from pg_class where oid = 'events'::regclass) r,
        generate_series(0, pg_relation_size(r.rel) / current_setting('block_size')::int - 1) as blk,
        heap_page_items(get_raw_page(r.rel::text, blk::int)) as i
      where i.t_data is not null`);
    return rows.map((r) => r.t_data.toString('latin1')).join('');
  } finally {
    await c.end();
  }
}
