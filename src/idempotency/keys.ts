// Claiming and reading idempotency records. A claim is an insert under the (app, scope, key) primary key,
// made in the same transaction as the effect it guards (invariant 1): two claimants can never both win.
import type { Kysely } from 'kysely';
import type { Database, IdempotencyKeysTable } from '../store/schema.js';
import { preparedQuery } from '../store/prepared-query.js';
import type { Tx } from '../store/store.js';

export interface KeyRef {
  appId: string;
  scope: string;
  key: string;
}

export type KeyRecord = IdempotencyKeysTable;

/**
 * Inserts the key row, or takes over a row whose retention has expired (a key sent after expiry is a new
 * request). Returns false when a live row exists: the caller replays it.
 */
export async function claimKey(
  tx: Tx,
  ref: KeyRef,
  fingerprint: string,
  now: number,
  ttlMs: number,
): Promise<boolean> {
  const res = await claimQuery(tx, { ...ref, fingerprint, now, expiresAt: now + ttlMs });
  return Number(res.numAffectedRows ?? 0) > 0;
}

const claimQuery = preparedQuery(
  ['appId', 'scope', 'key', 'fingerprint', 'now', 'expiresAt'] as const,
  (db, p) => {
    const row = { fingerprint: p.fingerprint, result: '{}', created_at: p.now, expires_at: p.expiresAt };
    return db
      .insertInto('idempotency_keys')
      .values({ app_id: p.appId, scope: p.scope, key: p.key, ...row })
      .onConflict((oc) =>
        oc
          .columns(['app_id', 'scope', 'key'])
          .doUpdateSet(row)
          .where('idempotency_keys.expires_at', '<=', p.now),
      );
  },
);

/** Stores the answer a repeat will get; same transaction as the claim. */
export async function storeResult(tx: Tx, ref: KeyRef, result: unknown): Promise<void> {
  await storeResultQuery(tx, { ...ref, result: JSON.stringify(result) });
}

const storeResultQuery = preparedQuery(['appId', 'scope', 'key', 'result'] as const, (db, p) =>
  db
    .updateTable('idempotency_keys')
    .set({ result: p.result })
    .where('app_id', '=', p.appId)
    .where('scope', '=', p.scope)
    .where('key', '=', p.key),
);

/** Gives a claim back when the guarded work turned out to be refused, inside the same transaction. */
export async function releaseKey(tx: Tx, ref: KeyRef): Promise<void> {
  await tx
    .deleteFrom('idempotency_keys')
    .where('app_id', '=', ref.appId)
    .where('scope', '=', ref.scope)
    .where('key', '=', ref.key)
    .execute();
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

/** Looks up many keys of one scope in one query (batch: no N+1). */
export async function findKeys(
  db: Kysely<Database> | Tx,
  appId: string,
  scope: string,
  keys: string[],
  now: number,
): Promise<Map<string, KeyRecord>> {
  const found = new Map<string, KeyRecord>();
  if (keys.length === 0) return found;
  const rows = await db
    .selectFrom('idempotency_keys')
    .selectAll()
    .where('app_id', '=', appId)
    .where('scope', '=', scope)
    .where('key', 'in', [...new Set(keys)])
    .where('expires_at', '>', now)
    .execute();
  for (const row of rows) found.set(row.key, row);
  return found;
}
