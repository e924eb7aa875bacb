// The delivery queue in the store: claiming due rows under a lease, recording attempts and their outcome, and
// what the API does with deliveries (list, retry a dead letter, replay events since a time, expire old ones).
import { sql, type ExpressionBuilder } from 'kysely';
import { newId } from '../clock.js';
import { OncelyError } from '../errors.js';
import type { EventRecord } from '../conversations/events.js';
import { preparedQuery, preparedRowsQuery } from '../store/prepared-query.js';
import type {
  Database,
  DeliveryState,
  EventType,
  WebhookAttemptsTable,
  WebhookDeliveriesTable,
} from '../store/schema.js';
import type { Store, Tx } from '../store/store.js';

/** Literal, not bound: SQLite uses a partial index only when the query repeats its condition as a constant. */
const pending = sql.lit<DeliveryState>('pending');

/** The smallest UUIDv7 of a millisecond: ids at or after `ms` sort at or after it. */
export function idBoundary(ms: number): string {
  const hex = Math.max(0, Math.floor(ms)).toString(16).padStart(12, '0');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-0000-0000-000000000000`;
}

/** What became of one attempt, as the dispatcher decided it. */
export interface AttemptOutcome {
  delivery: WebhookDeliveriesTable;
  attemptedAt: number;
  statusCode: number | null;
  durationMs: number;
  error: string | null;
  /** Succeeded; else pending again at `retryAt`, or failed when undefined. */
  succeeded: boolean;
  retryAt: number | undefined;
}

export interface DeliveryView {
  id: string;
  endpointId: string;
  eventId: string;
  eventType: EventType | null;
  conversationId: string;
  seq: number;
  state: DeliveryState;
  attemptCount: number;
  nextAttemptAt: string | null;
  lastStatus: number | null;
  lastError: string | null;
  createdAt: string;
  finishedAt: string | null;
  attempts: Array<{
    n: number;
    at: string;
    statusCode: number | null;
    durationMs: number;
    error: string | null;
  }>;
}

const iso = (ms: number) => new Date(Number(ms)).toISOString();

/**
 * The attempt a delivery's row keeps in its own fields (its last success, migration 0013), as attempts rows:
 * none or one.
 */
function keptAttempts(
  row: Pick<
    WebhookDeliveriesTable,
    'id' | 'attempt_count' | 'last_attempt_at' | 'last_status' | 'last_duration_ms' | 'last_error'
  >,
): WebhookAttemptsTable[] {
  if (row.last_attempt_at === null) return [];
  return [
    {
      delivery_id: row.id,
      n: Number(row.attempt_count),
      attempted_at: row.last_attempt_at,
      status_code: row.last_status,
      duration_ms: Number(row.last_duration_ms ?? 0),
      error: row.last_error,
    },
  ];
}

/** Successes per statement (5 parameters each). */
const recordChunk = 128;

/**
 * Successes, each kept in its row under the lease that sent it: a join with a VALUES list (columns column1…
 * on both stores; typed by casts, which PostgreSQL needs to assign them), compiled once per row count.
 */
const recordSuccesses = preparedRowsQuery(
  ['id', 'lease', 'status', 'at', 'duration'] as const,
  ['now'] as const,
  (_db, rows, p) => sql`
    update webhook_deliveries set state = 'succeeded',
      attempt_count = attempt_count + 1, tries_left = tries_left - 1, lease_token = null,
      last_status = v.column3, last_error = null, finished_at = ${p.now},
      last_attempt_at = v.column4, last_duration_ms = v.column5
    from (values ${sql.join(
      rows.map(
        (r) =>
          sql`(${r.id}, ${r.lease}, cast(${r.status} as integer), cast(${r.at} as bigint), cast(${r.duration} as integer))`,
      ),
    )}) as v
    where webhook_deliveries.id = v.column1 and webhook_deliveries.lease_token = v.column2`,
);

/** Rows per multi-row insert: well under SQLite's and PostgreSQL's bound-parameter limits (16 columns). */
const insertChunk = 200;

const deliveryColumns = [
  'id',
  'app_id',
  'endpoint_id',
  'event_id',
  'conversation_id',
  'seq',
  'ordered',
  'state',
  'tries_left',
  'attempt_count',
  'next_attempt_at',
  'lease_token',
  'last_status',
  'last_error',
  'created_at',
  'finished_at',
] as const satisfies ReadonlyArray<keyof WebhookDeliveriesTable>;

const insertRowsQuery = preparedRowsQuery(deliveryColumns, [] as const, (db, rows) =>
  db.insertInto('webhook_deliveries').values(rows),
);

/** New delivery rows, one insert per 200, each compiled once per row count (a re-bind, not a query build). */
export async function insertDeliveries(tx: Tx, rows: readonly WebhookDeliveriesTable[]): Promise<void> {
  for (let i = 0; i < rows.length; i += insertChunk)
    await insertRowsQuery(tx, rows.slice(i, i + insertChunk));
}

/** A delivery row with its event as it is now (undefined: the event no longer exists). */
export interface DeliveryWithEvent {
  row: WebhookDeliveriesTable;
  event: EventRecord | undefined;
}

/**
 * An endpoint's rows leased under one token after id `after`, in id order, each joined with its event: one
 * statement per page (compiled once), where a read of the rows and then of their events made two.
 */
const leasedPage = preparedQuery(['appId', 'endpointId', 'token', 'after', 'limit'], (db, p) =>
  db
    .selectFrom('webhook_deliveries as d')
    .leftJoin('events as e', 'e.id', 'd.event_id')
    .selectAll('d')
    .select([
      'e.id as e_id',
      'e.pos as e_pos',
      'e.type as e_type',
      'e.sender_id as e_sender_id',
      'e.body as e_body',
      'e.client_msg_id as e_client_msg_id',
      'e.subject_id as e_subject_id',
      'e.created_at as e_created_at',
      'e.recalled_at as e_recalled_at',
      'e.expired_at as e_expired_at',
    ])
    .where('d.app_id', '=', p.appId)
    .where('d.endpoint_id', '=', p.endpointId)
    .where('d.id', '>', p.after)
    .where('d.lease_token', '=', p.token)
    .where('d.state', '=', pending)
    .orderBy('d.id')
    .limit(p.limit),
);

export function createDeliveries({ store }: { store: Store }) {
  const { db } = store;

  /** Pending, due, and — for ordered endpoints — no earlier seq of its conversation still pending. */
  function claimable(
    now: number,
    exclude: ReadonlyArray<{ appId: string; endpointId: string }>,
    limit: number,
  ) {
    let query = db
      .selectFrom('webhook_deliveries as d')
      .select('d.id')
      .where('d.state', '=', pending)
      .where('d.next_attempt_at', '<=', now)
      .where((eb: ExpressionBuilder<Database & { d: WebhookDeliveriesTable }, 'd'>) =>
        eb.or([
          eb('d.ordered', '=', 0),
          eb.not(
            eb.exists(
              eb
                .selectFrom('webhook_deliveries as e')
                .select('e.id')
                .where('e.state', '=', pending)
                .whereRef('e.app_id', '=', 'd.app_id')
                .whereRef('e.endpoint_id', '=', 'd.endpoint_id')
                .whereRef('e.conversation_id', '=', 'd.conversation_id')
                .whereRef('e.seq', '<', 'd.seq'),
            ),
          ),
        ]),
      );
    for (const { appId, endpointId } of exclude) {
      query = query.where((eb) =>
        eb.not(eb.and([eb('d.app_id', '=', appId), eb('d.endpoint_id', '=', endpointId)])),
      );
    }
    query = query.orderBy('d.next_attempt_at').limit(limit);
    // Several instances claim at once on PostgreSQL: each skips the rows another is claiming.
    return store.supportsSkipLocked ? query.forUpdate().skipLocked() : query;
  }

  return {
    /**
     * Claims up to `limit` due rows for `leaseMs`: they are due again when the lease ends, so the rows of a
     * dispatcher that dies are delivered by the next claim after it. Atomic on every store (one statement).
     */
    async claim(
      now: number,
      leaseMs: number,
      limit: number,
      exclude: ReadonlyArray<{ appId: string; endpointId: string }> = [],
    ): Promise<WebhookDeliveriesTable[]> {
      return db
        .updateTable('webhook_deliveries')
        .set({ lease_token: newId(), next_attempt_at: now + leaseMs })
        .where('id', 'in', claimable(now, exclude, limit))
        .returningAll()
        .execute();
    },

    /**
     * Records attempts and outcomes in one transaction; a row whose lease was lost keeps the other claim's state.
     * A success is kept in the delivery's row (one statement for every success of the batch); a failure is an
     * attempts row too. It does not wait for the commit to be flushed to disk: a record lost to a power cut
     * only means the delivery is sent again, which at-least-once delivery allows (receivers dedupe by webhook-id).
     */
    async record(outcomes: readonly AttemptOutcome[], now: number): Promise<void> {
      if (outcomes.length === 0) return;
      const successes = outcomes.filter((o) => o.succeeded);
      const failures = outcomes.filter((o) => !o.succeeded);
      await db.transaction().execute(async (tx) => {
        if (failures.length > 0) {
          await tx
            .insertInto('webhook_attempts')
            .values(
              failures.map((o) => ({
                delivery_id: o.delivery.id,
                n: Number(o.delivery.attempt_count) + 1,
                attempted_at: o.attemptedAt,
                status_code: o.statusCode,
                duration_ms: o.durationMs,
                error: o.error,
              })),
            )
            .onConflict((oc) => oc.columns(['delivery_id', 'n']).doNothing())
            .execute();
        }
        for (const o of failures) await recordFailure(tx, o, now);
        for (let i = 0; i < successes.length; i += recordChunk) {
          const rows = successes.slice(i, i + recordChunk).map((o) => ({
            id: o.delivery.id,
            lease: o.delivery.lease_token,
            status: o.statusCode,
            at: o.attemptedAt,
            duration: o.durationMs,
          }));
          await recordSuccesses(tx, rows, { now });
        }
      });
    },

    /** Gives back rows claimed but not attempted (at close): due again at once instead of after the lease. */
    async release(rows: readonly WebhookDeliveriesTable[], now: number): Promise<void> {
      for (const row of rows) {
        await db
          .updateTable('webhook_deliveries')
          .set({ lease_token: null, next_attempt_at: now })
          .where('id', '=', row.id)
          .where('lease_token', '=', row.lease_token)
          .execute();
      }
    },

    /**
     * Rows leased at insert under `token` (a replay on this instance), after id `after` in id order, with
     * their events: read back by their lease rather than claimed, since they are this instance's already.
     */
    async leased(
      appId: string,
      endpointId: string,
      token: string,
      after: string,
      limit: number,
    ): Promise<DeliveryWithEvent[]> {
      const { rows } = await leasedPage(db, { appId, endpointId, token, after, limit });
      // Built field by field: an object rest over the joined row cost ~10 µs a row in the profile.
      return rows.map((r) => {
        const row: WebhookDeliveriesTable = {
          id: r.id,
          app_id: r.app_id,
          endpoint_id: r.endpoint_id,
          event_id: r.event_id,
          conversation_id: r.conversation_id,
          seq: r.seq,
          ordered: r.ordered,
          state: r.state,
          tries_left: r.tries_left,
          attempt_count: r.attempt_count,
          next_attempt_at: r.next_attempt_at,
          lease_token: r.lease_token,
          last_status: r.last_status,
          last_error: r.last_error,
          created_at: r.created_at,
          finished_at: r.finished_at,
          last_attempt_at: r.last_attempt_at,
          last_duration_ms: r.last_duration_ms,
        };
        const event: EventRecord | undefined =
          r.e_id === null
            ? undefined
            : {
                id: r.e_id,
                app_id: r.app_id,
                conversation_id: r.conversation_id,
                seq: r.seq,
                pos: r.e_pos!,
                type: r.e_type!,
                sender_id: r.e_sender_id,
                body: r.e_body,
                client_msg_id: r.e_client_msg_id,
                subject_id: r.e_subject_id,
                created_at: r.e_created_at!,
                recalled_at: r.e_recalled_at,
                expired_at: r.e_expired_at,
              };
        return { row, event };
      });
    },

    /** Gives back the endpoint's pending rows under `token` after id `after` (at close: a replay's unread rows). */
    async releaseLease(
      appId: string,
      endpointId: string,
      token: string,
      after: string,
      now: number,
    ): Promise<void> {
      await db
        .updateTable('webhook_deliveries')
        .set({ lease_token: null, next_attempt_at: now })
        .where('app_id', '=', appId)
        .where('endpoint_id', '=', endpointId)
        .where('id', '>', after)
        .where('lease_token', '=', token)
        .where('state', '=', pending)
        .execute();
    },

    /** The events of claimed rows, by id (their bodies as they are now: a recalled body is gone). */
    async events(ids: readonly string[]) {
      if (ids.length === 0) return [];
      return db
        .selectFrom('events')
        .selectAll()
        .where('id', 'in', [...new Set(ids)])
        .execute();
    },

    /** An endpoint was disabled: its pending rows become dead letters, retried by hand once it is enabled. */
    async failPending(tx: Tx, appId: string, endpointId: string, reason: string, now: number): Promise<void> {
      await tx
        .updateTable('webhook_deliveries')
        .set({
          state: 'failed',
          lease_token: null,
          last_error: `endpoint disabled: ${reason}`,
          finished_at: now,
        })
        .where('app_id', '=', appId)
        .where('endpoint_id', '=', endpointId)
        .where('state', '=', pending)
        .execute();
    },

    async list(
      appId: string,
      endpointId: string,
      q: { state?: DeliveryState | undefined; limit: number; before?: string | undefined },
    ): Promise<{ items: DeliveryView[]; hasMore: boolean }> {
      let query = db
        .selectFrom('webhook_deliveries as d')
        .leftJoin('events as e', 'e.id', 'd.event_id')
        .selectAll('d')
        .select('e.type as event_type')
        .where('d.app_id', '=', appId)
        .where('d.endpoint_id', '=', endpointId);
      if (q.state) query = query.where('d.state', '=', sql.lit<DeliveryState>(q.state));
      if (q.before) query = query.where('d.id', '<', q.before);
      const rows = await query
        .orderBy('d.id', 'desc')
        .limit(q.limit + 1)
        .execute();
      const page = rows.slice(0, q.limit);
      return { items: await views(page), hasMore: rows.length > q.limit };
    },

    async get(appId: string, deliveryId: string): Promise<DeliveryView> {
      const row = await db
        .selectFrom('webhook_deliveries as d')
        .leftJoin('events as e', 'e.id', 'd.event_id')
        .selectAll('d')
        .select('e.type as event_type')
        .where('d.app_id', '=', appId)
        .where('d.id', '=', deliveryId)
        .executeTakeFirst();
      if (!row)
        throw OncelyError.of('webhook_delivery_not_found', `webhook delivery ${deliveryId} does not exist`);
      return (await views([row]))[0]!;
    },

    /** Sends a finished delivery once more, now (one try); refused while it is still pending. */
    async retry(appId: string, deliveryId: string, now: number): Promise<WebhookDeliveriesTable> {
      return store.transaction(async (tx) => {
        const row = await tx
          .selectFrom('webhook_deliveries as d')
          .innerJoin('webhook_endpoints as w', (j) =>
            j.onRef('w.app_id', '=', 'd.app_id').onRef('w.id', '=', 'd.endpoint_id'),
          )
          .selectAll('d')
          .select('w.enabled')
          .where('d.app_id', '=', appId)
          .where('d.id', '=', deliveryId)
          .executeTakeFirst();
        if (!row)
          throw OncelyError.of('webhook_delivery_not_found', `webhook delivery ${deliveryId} does not exist`);
        if (row.state === 'pending')
          throw OncelyError.of('delivery_pending', 'the delivery is pending: it will be tried');
        if (Number(row.enabled) !== 1) {
          throw OncelyError.of(
            'webhook_endpoint_disabled',
            `endpoint ${row.endpoint_id} is disabled: enable it first`,
          );
        }
        const { enabled: _enabled, ...delivery } = row;
        // The success kept in the row becomes an attempts row: the row's fields will tell of the next attempt.
        const kept = keptAttempts(row);
        if (kept.length > 0) {
          await tx
            .insertInto('webhook_attempts')
            .values(kept)
            .onConflict((oc) => oc.columns(['delivery_id', 'n']).doNothing())
            .execute();
        }
        const updated = {
          state: 'pending' as const,
          tries_left: 1,
          next_attempt_at: now,
          lease_token: null,
          finished_at: null,
          last_attempt_at: null,
          last_duration_ms: null,
        };
        await tx.updateTable('webhook_deliveries').set(updated).where('id', '=', deliveryId).execute();
        return { ...delivery, ...updated };
      });
    },

    /**
     * New deliveries to one endpoint for every event of the app since `since` that its filter takes (webhook-id
     * is the event id again, so a receiver that has one already drops it). In pages, each its own transaction.
     * With `lease`, the rows are written leased (to this instance's dispatcher, told of each page after its
     * commit); without, due for any claim.
     */
    async replay(
      endpoint: { appId: string; id: string; ordered: boolean; events: ReadonlySet<EventType> | null },
      since: number,
      now: number,
      tries: number,
      lease?: { token: string; until: number; committed(count: number): void },
    ): Promise<number> {
      let after = idBoundary(since);
      // The first page admits the boundary itself; later ones start strictly after the last id. (Not
      // `>= id + '\0'`: PostgreSQL text cannot hold a NUL.)
      let inclusive = true;
      let queued = 0;
      for (;;) {
        let page = db
          .selectFrom('events')
          .select(['id', 'conversation_id', 'seq', 'created_at'])
          // Pages walk the primary key from `after`. A plain `app_id = ?` let SQLite pick an index by
          // (app_id, …) instead, reading and sorting every event of the app for each page of 500; the
          // expression keeps the filter off every index, on both stores.
          .where(sql<string>`${sql.ref('app_id')} || ''`, '=', endpoint.appId)
          .where('id', inclusive ? '>=' : '>', after)
          .where('created_at', '>=', since);
        if (endpoint.events) page = page.where('type', 'in', [...endpoint.events]);
        const events = await page.orderBy('id').limit(500).execute();
        if (events.length === 0) return queued;
        await store.transaction(async (tx) => {
          await insertDeliveries(
            tx,
            events.map((e) => ({
              id: newId(),
              app_id: endpoint.appId,
              endpoint_id: endpoint.id,
              event_id: e.id,
              conversation_id: e.conversation_id,
              seq: e.seq,
              ordered: endpoint.ordered ? 1 : 0,
              state: 'pending' as const,
              tries_left: tries,
              attempt_count: 0,
              next_attempt_at: lease?.until ?? now,
              lease_token: lease?.token ?? null,
              last_status: null,
              last_error: null,
              created_at: now,
              finished_at: null,
              last_attempt_at: null,
              last_duration_ms: null,
            })),
          );
        });
        lease?.committed(events.length);
        queued += events.length;
        after = events[events.length - 1]!.id;
        inclusive = false;
      }
    },

    /** Deletes up to `limit` finished deliveries created before `before` (ms), with their attempts. */
    async expire(before: number, limit: number): Promise<number> {
      return store.transaction(async (tx) => {
        const ids = (
          await tx
            .selectFrom('webhook_deliveries')
            .select('id')
            .where('id', '<', idBoundary(before))
            .where('state', '!=', pending)
            .orderBy('id')
            .limit(limit)
            .execute()
        ).map((r) => r.id);
        if (ids.length === 0) return 0;
        await tx.deleteFrom('webhook_attempts').where('delivery_id', 'in', ids).execute();
        await tx.deleteFrom('webhook_deliveries').where('id', 'in', ids).execute();
        return ids.length;
      });
    },
  };

  async function views(
    page: Array<WebhookDeliveriesTable & { event_type: EventType | null }>,
  ): Promise<DeliveryView[]> {
    const attempts =
      page.length === 0
        ? []
        : await db
            .selectFrom('webhook_attempts')
            .selectAll()
            .where(
              'delivery_id',
              'in',
              page.map((r) => r.id),
            )
            .orderBy('n')
            .execute();
    return page.map((r) => ({
      id: r.id,
      endpointId: r.endpoint_id,
      eventId: r.event_id,
      eventType: r.event_type,
      conversationId: r.conversation_id,
      seq: Number(r.seq),
      state: r.state,
      attemptCount: Number(r.attempt_count),
      nextAttemptAt: r.state === 'pending' ? iso(r.next_attempt_at) : null,
      lastStatus: r.last_status === null ? null : Number(r.last_status),
      lastError: r.last_error,
      createdAt: iso(r.created_at),
      finishedAt: r.finished_at === null ? null : iso(r.finished_at),
      // The attempts rows, then the latest attempt when the row keeps it (a success: migration 0013).
      attempts: [...attempts.filter((a) => a.delivery_id === r.id), ...keptAttempts(r)].map((a) => ({
        n: Number(a.n),
        at: iso(a.attempted_at),
        statusCode: a.status_code === null ? null : Number(a.status_code),
        durationMs: Number(a.duration_ms),
        error: a.error,
      })),
    }));
  }

  async function recordFailure(tx: Tx, o: AttemptOutcome, now: number): Promise<void> {
    await tx
      .updateTable('webhook_deliveries')
      .set((eb) => ({
        state: o.retryAt === undefined ? 'failed' : 'pending',
        attempt_count: eb('attempt_count', '+', 1),
        tries_left: eb('tries_left', '-', 1),
        next_attempt_at: o.retryAt ?? now,
        lease_token: null,
        last_status: o.statusCode,
        last_error: o.error,
        finished_at: o.retryAt === undefined ? now : null,
        // This attempt is an attempts row.
        last_attempt_at: null,
        last_duration_ms: null,
      }))
      .where('id', '=', o.delivery.id)
      .where('lease_token', '=', o.delivery.lease_token)
      .execute();
  }
}

export type Deliveries = ReturnType<typeof createDeliveries>;
