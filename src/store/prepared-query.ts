// Queries compiled once and then only re-bound. Building and compiling a Kysely query costs more than
// running a small SQLite statement, and every send runs the same handful: those are written as usual with
// the query builder, compiled on first use for the database's dialect, and run with new parameters after.
import type { Compilable, CompiledQuery, Kysely, QueryResult } from 'kysely';
import type { Database } from './schema.js';

const marker = '\u0000oncely-param:';

/** A parameter placeholder while the query is built; typed as anything, since it stands for a value. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Placeholders<K extends string> = Record<K, any>;

export type PreparedQuery<K extends string, R> = (
  db: Kysely<Database>,
  values: Record<K, unknown>,
) => Promise<QueryResult<R>>;

/**
 * `build` receives placeholders for the named parameters and must use each only as a plain value (never
 * in an `in (…)` list, whose length would change the SQL). Other values in it are constants.
 */
export function preparedQuery<K extends string, R>(
  names: readonly K[],
  build: (db: Kysely<Database>, p: Placeholders<K>) => Compilable<R>,
): PreparedQuery<K, R> {
  // Per dialect adapter: one process may hold stores of two dialects (SQLite and PostgreSQL).
  const compiled = new WeakMap<object, { query: CompiledQuery<R>; slots: Array<K | undefined> }>();
  return (db, values) => {
    const adapter = db.getExecutor().adapter;
    let entry = compiled.get(adapter);
    if (!entry) {
      const placeholders = Object.fromEntries(names.map((n) => [n, marker + n])) as Placeholders<K>;
      const query = build(db, placeholders).compile();
      const slots = query.parameters.map((v) =>
        typeof v === 'string' && v.startsWith(marker) ? (v.slice(marker.length) as K) : undefined,
      );
      for (const name of names) {
        if (!slots.includes(name)) throw new Error(`prepared query does not use its parameter ${name}`);
      }
      entry = { query, slots };
      compiled.set(adapter, entry);
    }
    const { query, slots } = entry;
    const parameters = query.parameters.map((constant, i) => {
      const slot = slots[i];
      return slot === undefined ? constant : values[slot];
    });
    return db.executeQuery<R>({ ...query, parameters });
  };
}
