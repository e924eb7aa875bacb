// The idempotent-consumer library for applications' own handlers: the three ways to make a message's effect
// happen once although the broker delivers it at least once — a unique key, a version precondition, and an
// atomic record-and-check — over oncely's Store, so they hold on SQLite and PostgreSQL alike.
// Feed it with the consumer runner and a broker adapter (see examples/idempotent-consumer/).
import type { InsertResult, UpdateResult } from 'kysely';
import type { Store, Tx } from '../store/store.js';
import type { Verdict } from './consumer-runner.js';

/** `applied`: the effect happened now. `duplicate`: it had happened before; nothing was done. */
export type Applied = 'applied' | 'duplicate';

const rowsOf = (r: InsertResult | UpdateResult | undefined): number => {
  if (!r) return 0;
  return Number('numInsertedOrUpdatedRows' in r ? (r.numInsertedOrUpdatedRows ?? 0) : r.numUpdatedRows);
};

/**
 * Strategy 1 — unique key ("insert if not exists"). The effect is itself an insert into a table with a
 * unique key taken from the message (`insert … on conflict do nothing`); a repeat inserts nothing. `then`
 * runs in the same transaction only when the row was new.
 *
 * Holds under concurrency because the database enforces the key: of two inserts of one key, one waits for
 * the other and then finds the key taken.
 */
export async function insertIfAbsent(
  store: Store,
  insert: (tx: Tx) => Promise<InsertResult | undefined>,
  then?: (tx: Tx) => Promise<void>,
): Promise<Applied> {
  return store.transaction(async (tx) => {
    if (rowsOf(await insert(tx)) === 0) return 'duplicate';
    await then?.(tx);
    return 'applied';
  });
}

export interface VersionedUpdate<S> {
  /** Reads the current state and its version; undefined when the row does not exist (yet). */
  read(db: Store['db']): Promise<{ version: number; state: S } | undefined>;
  /**
   * The message's precondition: `apply` when it holds, `duplicate` when the state shows the message was
   * already applied (its version has passed), `not-yet` when an earlier change has still to arrive.
   */
  check(current: { version: number; state: S } | undefined): 'apply' | 'duplicate' | 'not-yet';
  /** Writes the new state and version only where the version is still the one read; returns the result. */
  write(tx: Tx, current: { version: number; state: S }): Promise<UpdateResult | undefined>;
  /** Attempts when another writer changes the row between read and write. @defaultValue 10 */
  maxAttempts?: number;
}

/** Thrown when a versioned update lost the race `maxAttempts` times in a row; delivering it again is safe. */
export class VersionConflictError extends Error {}

/**
 * Strategy 2 — version precondition (optimistic concurrency). The message says which version of the data
 * it applies to; the update is conditional on that version (`… where version = ?`) and moves it on. A
 * repeat finds the version already moved and does nothing; a change that lost a race to a concurrent
 * writer reads again and re-checks. Messages of one row must be applied in version order: one that arrives
 * early is `not-yet` and should be redelivered later.
 */
export async function updateIfVersion<S>(
  store: Store,
  update: VersionedUpdate<S>,
): Promise<Applied | 'not-yet'> {
  const attempts = update.maxAttempts ?? 10;
  for (let attempt = 0; attempt < attempts; attempt++) {
    const current = await update.read(store.db);
    const decision = update.check(current);
    if (decision !== 'apply') return decision;
    if (!current) throw new Error('check() answered "apply" for a row that does not exist');
    // The conditional write is one statement: the version cannot change between its test and its set.
    const written = await store.transaction((tx) => update.write(tx, current));
    if (rowsOf(written) === 1) return 'applied';
  }
  throw new VersionConflictError(`the row kept changing under ${attempts} attempts`);
}

/**
 * Strategy 3 — atomic record-and-check by the message's unique id. The record of the message and its
 * effect commit in one transaction, and the record is inserted first: the insert is the check. A second
 * delivery — on another consumer at the same moment — blocks on the first one's record until it commits,
 * then finds it and does nothing. (Checking with a read first and recording afterwards, as three separate
 * steps, lets two deliveries both pass the check: the test of this library shows it double-counting.)
 */
export async function recordAndApply(
  store: Store,
  message: { consumer: string; messageId: string; now?: number },
  effect: (tx: Tx) => Promise<void>,
): Promise<Applied> {
  const consumedAt = message.now ?? Date.now();
  return store.transaction(async (tx) => {
    const recorded = await tx
      .insertInto('consumed_messages')
      .values({ consumer: message.consumer, message_id: message.messageId, consumed_at: consumedAt })
      .onConflict((oc) => oc.columns(['consumer', 'message_id']).doNothing())
      .executeTakeFirst();
    if (rowsOf(recorded) === 0) return 'duplicate';
    await effect(tx);
    return 'applied';
  });
}

/** Forgets a consumer's records older than `before` (ms since the epoch): keep them longer than redeliveries. */
export async function pruneConsumed(store: Store, consumer: string, before: number): Promise<number> {
  const result = await store.db
    .deleteFrom('consumed_messages')
    .where('consumer', '=', consumer)
    .where('consumed_at', '<', before)
    .executeTakeFirst();
  return Number(result.numDeletedRows);
}

/** The runner's verdict for a strategy's answer: acknowledged either way, or redelivered when not yet. */
export function verdictOf(result: Applied | 'not-yet'): Verdict {
  return result === 'not-yet'
    ? { kind: 'retry', reason: 'precondition_not_met', message: 'an earlier version has still to be applied' }
    : { kind: 'ack', outcome: result };
}
