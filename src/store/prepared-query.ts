// Queries compiled once and then only re-bound. Building and compiling a Kysely query costs more than
// running a small SQLite statement, and every send runs the same handful: those are written as usual with
// the query builder (or `sql`), compiled on first use for the database's dialect, and run with new
// parameters after. Multi-row statements are compiled once per row count.
import type { Compilable, CompiledQuery, Kysely, QueryResult, RawBuilder } from 'kysely';
import type { Database } from './schema.js';

const marker = '\u0000oncely-param:';

/** A parameter placeholder while the query is built; typed as anything, since it stands for a value. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Placeholders<K extends string> = Record<K, any>;

type Buildable<R> = Compilable<R> | RawBuilder<R>;

export type PreparedQuery<K extends string, R> = (
  db: Kysely<Database>,
  values: Record<K, unknown>,
) => Promise<QueryResult<R>>;

/** Where a compiled query's parameter comes from: a constant, a named value, or a field of row `row`. */
type Slot<K extends string, F extends string> =
  { kind: 'constant' } | { kind: 'value'; name: K } | { kind: 'row'; row: number; field: F };

interface Entry<K extends string, F extends string, R> {
  query: CompiledQuery<R>;
  slots: Array<Slot<K, F>>;
}

function compile<R>(db: Kysely<Database>, built: Buildable<R>): CompiledQuery<R> {
  return 'isRawBuilder' in built ? built.compile(db) : built.compile();
}

function slotOf<K extends string, F extends string>(value: unknown): Slot<K, F> {
  if (typeof value !== 'string' || !value.startsWith(marker)) return { kind: 'constant' };
  const name = value.slice(marker.length);
  const row = /^(\d+)\.(.+)$/.exec(name);
  return row ? { kind: 'row', row: Number(row[1]), field: row[2] as F } : { kind: 'value', name: name as K };
}

/** The compiled query with these values bound in its parameters' places. */
function bound<K extends string, F extends string, R>(
  { query, slots }: Entry<K, F, R>,
  values: Partial<Record<K, unknown>>,
  rows: ReadonlyArray<Record<F, unknown>>,
): CompiledQuery<R> {
  const parameters = new Array<unknown>(slots.length);
  for (let i = 0; i < slots.length; i++) {
    const slot = slots[i]!;
    parameters[i] =
      slot.kind === 'constant'
        ? query.parameters[i]
        : slot.kind === 'value'
          ? values[slot.name]
          : rows[slot.row]![slot.field];
  }
  return { query: query.query, queryId: query.queryId, sql: query.sql, parameters };
}

/**
 * `build` receives placeholders for the named parameters and must use each only as a plain value (never
 * in an `in (…)` list, whose length would change the SQL). Other values in it are constants.
 */
export function preparedQuery<K extends string, R>(
  names: readonly K[],
  build: (db: Kysely<Database>, p: Placeholders<K>) => Buildable<R>,
): PreparedQuery<K, R> {
  const statement = preparedStatement(names, build);
  return (db, values) => db.executeQuery<R>(statement(db, values));
}

/**
 * The same, answering the compiled query with the values bound rather than running it: for a caller that
 * runs it its own way (`Store.readRows`).
 */
export function preparedStatement<K extends string, R>(
  names: readonly K[],
  build: (db: Kysely<Database>, p: Placeholders<K>) => Buildable<R>,
): (db: Kysely<Database>, values: Record<K, unknown>) => CompiledQuery<R> {
  // Per dialect adapter: one process may hold stores of two dialects (SQLite and PostgreSQL).
  const compiled = new WeakMap<object, Entry<K, never, R>>();
  return (db, values) => {
    const adapter = db.getExecutor().adapter;
    let entry = compiled.get(adapter);
    if (!entry) {
      const placeholders = Object.fromEntries(names.map((n) => [n, marker + n])) as Placeholders<K>;
      const query = compile(db, build(db, placeholders));
      const slots = query.parameters.map((v) => slotOf<K, never>(v));
      for (const name of names) {
        if (!slots.some((s) => s.kind === 'value' && s.name === name))
          throw new Error(`prepared query does not use its parameter ${name}`);
      }
      entry = { query, slots };
      compiled.set(adapter, entry);
    }
    return bound(entry, values, []);
  };
}

export type PreparedRowsQuery<K extends string, F extends string, R> = (
  db: Kysely<Database>,
  rows: ReadonlyArray<Record<F, unknown>>,
  values?: Record<K, unknown>,
) => Promise<QueryResult<R>>;

/** Row counts whose compiled text is kept per statement and dialect; other counts are compiled each time. */
const rowCountsKept = 256;

/**
 * A statement over a list of rows (a multi-row insert, a join with a VALUES list): `build` receives one
 * placeholder object per row, with a placeholder per field, and placeholders for named single values. The
 * statement is compiled once per row count (the SQL text differs with it), so a group of any size costs a
 * re-bind, not a build.
 */
export function preparedRowsQuery<F extends string, K extends string, R>(
  fields: readonly F[],
  names: readonly K[],
  build: (db: Kysely<Database>, rows: Array<Placeholders<F>>, p: Placeholders<K>) => Buildable<R>,
): PreparedRowsQuery<K, F, R> {
  const compiled = new WeakMap<object, Map<number, Entry<K, F, R>>>();
  return (db, rows, values = {} as Record<K, unknown>) => {
    if (rows.length === 0) throw new Error('a rows query needs at least one row');
    const adapter = db.getExecutor().adapter;
    let byCount = compiled.get(adapter);
    if (!byCount) compiled.set(adapter, (byCount = new Map()));
    let entry = byCount.get(rows.length);
    if (!entry) {
      const placeholders = rows.map(
        (_, i) => Object.fromEntries(fields.map((f) => [f, `${marker}${i}.${f}`])) as Placeholders<F>,
      );
      const named = Object.fromEntries(names.map((n) => [n, marker + n])) as Placeholders<K>;
      const query = compile(db, build(db, placeholders, named));
      entry = { query, slots: query.parameters.map((v) => slotOf<K, F>(v)) };
      if (byCount.size < rowCountsKept) byCount.set(rows.length, entry);
    }
    return db.executeQuery<R>(bound(entry, values, rows));
  };
}
