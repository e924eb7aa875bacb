// Claiming and reading idempotency records. A claim is an insert under the (app, scope, key) primary key,
// made in the same transaction as the effect it guards (invariant 1): two claimants can never both win.
// Every function here is set-based: one statement for many keys, of any apps and scopes.
import { sql, type Kysely } from 'kysely';
import type { Database, IdempotencyKeysTable } from '../store/schema.js';
import { preparedQuery, preparedRowsQuery } from '../store/prepared-query.js';
import type { Tx } from '../store/store.js';

export interface KeyRef {
  appId: string;
  scope: string;
  key: string;
}

export type KeyRecord = IdempotencyKeysTable;

/** A key's identity as one string, for maps and sets. */
export const keyId = (k: KeyRef) => `${k.appId}\n${k.scope}\n${k.key}`;

/** Rows per multi-row statement: at most seven bound parameters each, under SQLite's and PostgreSQL's limits. */
const chunkSize = 1000;

function chunks<T>(items: T[]): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += chunkSize) out.push(items.slice(i, i + chunkSize));
  return out;
}

const claimQuery = preparedRowsQuery(
  ['appId', 'scope', 'key', 'fingerprint', 'result'] as const,
  ['now', 'expiresAt'] as const,
  (db, rows, p) =>
    db
      .insertInto('idempotency_keys')
      .values(
        rows.map((r) => ({
          app_id: r.appId,
          scope: r.scope,
          key: r.key,
          fingerprint: r.fingerprint,
          result: r.result,
          created_at: p.now,
          expires_at: p.expiresAt,
        })),
      )
      // An expired record is taken over: a key sent after its retention is a new request.
      .onConflict((oc) =>
        oc
          .columns(['app_id', 'scope', 'key'])
          .doUpdateSet((eb) => ({
            fingerprint: eb.ref('excluded.fingerprint'),
            result: eb.ref('excluded.result'),
            created_at: eb.ref('excluded.created_at'),
            expires_at: eb.ref('excluded.expires_at'),
          }))
          .where('idempotency_keys.expires_at', '<=', p.now),
      ),
);

/**
 * Inserts the keys' rows, or takes over rows whose retention has expired (a key sent after expiry is a new
 * request), each with the answer a repeat will get (JSON that names something unique to this claim, such as
 * the new message's id; it may be replaced in this transaction with `storeResults`). Resolves true when every
 * key was claimed. Otherwise some were held by live rows, and the caller tells its own by their answer
 * (`findKeyRecords`): a row whose result is the one claimed with is this transaction's. Keys are claimed in
 * (app, scope, key) order, the lock order of store.ts, and must be distinct.
 */
export async function claimKeys(
  tx: Tx,
  claims: Array<KeyRef & { fingerprint: string; result: string }>,
  now: number,
  ttlMs: number,
): Promise<boolean> {
  const sorted = claims
    .map((c) => ({ c, id: keyId(c) }))
    .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
    .map(({ c }) => c);
  let claimed = 0;
  // No RETURNING: counting the rows written is enough when all were (the common case), and a statement
  // that returns a row per key costs a quarter more.
  for (const part of chunks(sorted)) {
    claimed += Number((await claimQuery(tx, part, { now, expiresAt: now + ttlMs })).numAffectedRows ?? 0);
  }
  return claimed === claims.length;
}

// A join with a VALUES list (its columns are column1… in SQLite and PostgreSQL alike): one index lookup
// per key, where a CASE over the keys would compare every row with every key.
const storeResultsQuery = preparedRowsQuery(
  ['appId', 'scope', 'key', 'result'] as const,
  [] as const,
  (_db, rows) => sql`
    update idempotency_keys set result = v.column4
    from (values ${sql.join(rows.map((r) => sql`(${r.appId}, ${r.scope}, ${r.key}, ${r.result})`))}) as v
    where idempotency_keys.app_id = v.column1 and idempotency_keys.scope = v.column2
      and idempotency_keys.key = v.column3`,
);

/** Replaces the answers of keys claimed in this transaction: one statement per chunk. */
export async function storeResults(tx: Tx, results: Array<{ ref: KeyRef; result: unknown }>): Promise<void> {
  const rows = results.map(({ ref, result }) => ({
    appId: ref.appId,
    scope: ref.scope,
    key: ref.key,
    result: JSON.stringify(result),
  }));
  for (const part of chunks(rows)) await storeResultsQuery(tx, part);
}

// Joined with a VALUES list of the exact keys: one primary-key lookup each.
const findRecordsQuery = preparedRowsQuery(
  ['appId', 'scope', 'key'] as const,
  ['now'] as const,
  (_db, rows, p) =>
    sql<KeyRecord>`
    select k.* from (values ${sql.join(rows.map((r) => sql`(${r.appId}, ${r.scope}, ${r.key})`))}) as v
    join idempotency_keys as k on k.app_id = v.column1 and k.scope = v.column2 and k.key = v.column3
    where k.expires_at > ${p.now}`,
);

/** The live records of many keys, of any apps and scopes, by `keyId`: one query per chunk (no N+1). */
export async function findKeyRecords(
  db: Kysely<Database> | Tx,
  refs: KeyRef[],
  now: number,
): Promise<Map<string, KeyRecord>> {
  const found = new Map<string, KeyRecord>();
  const unique = [...new Map(refs.map((r) => [keyId(r), r])).values()];
  for (const part of chunks(unique)) {
    const { rows } = await findRecordsQuery(db, part, { now });
    for (const row of rows) found.set(keyId({ appId: row.app_id, scope: row.scope, key: row.key }), row);
  }
  return found;
}

/** The live record of a key, or undefined when absent or expired. */
export async function findKey(
  db: Kysely<Database> | Tx,
  ref: KeyRef,
  now: number,
): Promise<KeyRecord | undefined> {
  const { rows } = await findQuery(db, { ...ref, now });
  return rows[0];
}

/** The live record of a key, by the primary key (exported for test/query-plans.test.ts). */
export const findKeyQuery = (
  db: Kysely<Database>,
  p: { appId: string; scope: string; key: string; now: number },
) =>
  db
    .selectFrom('idempotency_keys')
    .selectAll()
    .where('app_id', '=', p.appId)
    .where('scope', '=', p.scope)
    .where('key', '=', p.key)
    .where('expires_at', '>', p.now);

const findQuery = preparedQuery(['appId', 'scope', 'key', 'now'] as const, findKeyQuery);
