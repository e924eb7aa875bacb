// The PostgreSQL adapter itself: instances starting together migrate one fresh database without racing,
// int8 columns come back as numbers (exact bigints past 2^53), and which errors count as "unavailable".
// Runs in the postgres project only.
import { afterAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { createPostgresStore } from '../../src/store/postgres/postgres-store.js';
import { isUnavailableError } from '../../src/store/postgres/postgres-pool.js';
import { adminToken, client, dropDatabase, startServer, tempDir, type TestServer } from '../harness.js';
import { databaseUrl } from '../test-store.js';

const dir = tempDir('oncely-pg-store-');
afterAll(() => dropDatabase(dir));

describe('PostgreSQL store', () => {
  it('five stores migrating one fresh database at once apply each migration once', async () => {
    const url = await databaseUrl(dir);
    const stores = Array.from({ length: 5 }, () =>
      createPostgresStore({ connectionString: url, durability: 'full' }),
    );
    try {
      const applied = await Promise.all(stores.map((s) => s.migrate()));
      // One instance applied them all; the others found the schema up to date.
      const counts = applied.map((a) => a.length).sort((a, b) => b - a);
      expect(counts[0]).toBeGreaterThan(0);
      expect(counts.slice(1)).toEqual([0, 0, 0, 0]);
      const { rows } = await sql<{ name: string }>`select name from kysely_migration`.execute(stores[0]!.db);
      expect(rows.map((r) => r.name).sort()).toEqual(applied.flat().sort());
    } finally {
      await Promise.all(stores.map((s) => s.close()));
    }
  });

  it('three oncely instances started together on one database all serve it', async () => {
    const shared = tempDir('oncely-pg-shared-');
    const env = { ONCELY_DATABASE_URL: await databaseUrl(shared) };
    const servers: TestServer[] = await Promise.all([1, 2, 3].map(() => startServer(env)));
    try {
      const apps = await Promise.all(
        servers.map((s) => client(s.url, adminToken).post('/v1/apps', { name: 'x' })),
      );
      expect(apps.map((a) => a.status)).toEqual([201, 201, 201]);
      // An app made on one instance is known to the others: one database.
      const key = apps[0]!.body.apiKey as string;
      for (const s of servers)
        expect((await client(s.url, key).put('/v1/users/u', {})).status).toBeLessThan(300);
    } finally {
      await Promise.all(servers.map((s) => s.stop()));
      await dropDatabase(shared);
    }
  });

  it('int8 is read as a number, and past 2^53 as an exact bigint', async () => {
    const store = createPostgresStore({ connectionString: await databaseUrl(dir), durability: 'full' });
    try {
      const { rows } = await sql<{
        small: unknown;
        big: unknown;
      }>`select 1700000000000::int8 as small, 9007199254740993::int8 as big`.execute(store.db);
      expect(rows[0]).toEqual({ small: 1700000000000, big: 9007199254740993n });
    } finally {
      await store.close();
    }
  });

  it('connection failures count as unavailable; query errors do not', () => {
    const coded = (code: string, message = 'x') => Object.assign(new Error(message), { code });
    expect(isUnavailableError(coded('ECONNREFUSED'))).toBe(true);
    expect(isUnavailableError(coded('57P01', 'terminating connection due to administrator command'))).toBe(
      true,
    );
    expect(isUnavailableError(coded('57P03', 'the database system is starting up'))).toBe(true);
    expect(isUnavailableError(coded('08006'))).toBe(true);
    expect(isUnavailableError(new Error('Connection terminated unexpectedly'))).toBe(true);
    expect(isUnavailableError(new Error('timeout exceeded when trying to connect'))).toBe(true);
    expect(isUnavailableError(coded('23505', 'duplicate key value violates unique constraint'))).toBe(false);
    expect(isUnavailableError(coded('42883', 'operator does not exist: bigint + text'))).toBe(false);
    expect(isUnavailableError(coded('40P01', 'deadlock detected'))).toBe(false);
  });
});
