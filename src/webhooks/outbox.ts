// The transactional outbox: inside an event's own transaction, one delivery row per (event, matching
// endpoint). What commits with the event is delivered; nothing is lost between commit and dispatch.
import { newId } from '../clock.js';
import type { EventWriter } from '../conversations/event-log.js';
import type { WebhookDeliveriesTable } from '../store/schema.js';
import { preparedQuery } from '../store/prepared-query.js';
import { triesFor } from './retry-schedule.js';
import type { WebhookEndpoints } from './webhook-endpoints.js';

/** Rows per multi-row insert: well under SQLite's and PostgreSQL's bound-parameter limits (16 columns). */
const chunkSize = 200;

export type { EventWriter } from '../conversations/event-log.js';

export interface OutboxOptions {
  endpoints: WebhookEndpoints;
  retrySchedule: readonly number[];
}

/**
 * The outbox writer. Its cost per call is constant in statements: the endpoints of each app come from a
 * short-lived cache (read in the transaction when stale), and the rows go in one insert per 200.
 */
export function createOutboxWriter({ endpoints, retrySchedule }: OutboxOptions): EventWriter {
  const tries = triesFor(retrySchedule);
  return async (tx, events) => {
    if (events.length === 0) return;
    const rows: WebhookDeliveriesTable[] = [];
    let appId: string | undefined;
    let ofApp: Awaited<ReturnType<WebhookEndpoints['ofApp']>> = [];
    for (const event of events) {
      if (event.app_id !== appId) {
        appId = event.app_id;
        ofApp = await endpoints.ofApp(tx, appId);
      }
      for (const endpoint of ofApp) {
        if (!endpoint.enabled || (endpoint.events && !endpoint.events.has(event.type))) continue;
        rows.push({
          id: newId(),
          app_id: event.app_id,
          endpoint_id: endpoint.id,
          event_id: event.id,
          conversation_id: event.conversation_id,
          seq: event.seq,
          ordered: endpoint.ordered ? 1 : 0,
          state: 'pending',
          tries_left: tries,
          attempt_count: 0,
          // Due at once; the event's own time keeps dispatch in commit order across a backlog.
          next_attempt_at: event.created_at,
          lease_token: null,
          last_status: null,
          last_error: null,
          created_at: event.created_at,
          finished_at: null,
        });
      }
    }
    // One row (a single send) is the common case: a statement compiled once.
    if (rows.length === 1) {
      await insertOneQuery(tx, rows[0]!);
      return;
    }
    for (let i = 0; i < rows.length; i += chunkSize) {
      await tx
        .insertInto('webhook_deliveries')
        .values(rows.slice(i, i + chunkSize))
        .execute();
    }
  };
}

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

const insertOneQuery = preparedQuery(deliveryColumns, (db, p) =>
  db.insertInto('webhook_deliveries').values(p),
);
