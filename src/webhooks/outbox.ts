// The transactional outbox: inside an event's own transaction, one delivery row per (event, matching
// endpoint). What commits with the event is delivered; nothing is lost between commit and dispatch. Rows this
// instance's dispatcher has room for are written leased to it and handed over after the commit (the local
// fast path); the others are written due, for a claim by any instance.
import { newId } from '../clock.js';
import type { EventWriter } from '../conversations/event-log.js';
import type { WebhookDeliveriesTable } from '../store/schema.js';
import { triesFor } from './retry-schedule.js';
import { insertDeliveries } from './deliveries.js';
import type { LocalDispatch } from './local-leases.js';
import type { WebhookEndpoints } from './webhook-endpoints.js';

export type { EventWriter } from '../conversations/event-log.js';

export interface OutboxOptions {
  endpoints: WebhookEndpoints;
  retrySchedule: readonly number[];
  /** This instance's dispatcher, once it runs. @defaultValue none: every row is written due */
  local?: () => LocalDispatch | undefined;
  /** How long a row leased at insert stays this instance's (ms): after that any claim may take it. */
  leaseMs: number;
}

/**
 * The outbox writer. Its cost per call is constant in statements: the endpoints of each app come from a
 * short-lived cache (read in the transaction when stale), and the rows go in one insert per 200 (none
 * without rows).
 */
export function createOutboxWriter({ endpoints, retrySchedule, local, leaseMs }: OutboxOptions): EventWriter {
  const tries = triesFor(retrySchedule);
  return async (tx, events) => {
    if (events.length === 0) return;
    const dispatcher = local?.();
    // One token per transaction: a later try of it (after a rollback) leases under another.
    const token = dispatcher && newId();
    const rows: WebhookDeliveriesTable[] = [];
    let appId: string | undefined;
    let ofApp: Awaited<ReturnType<WebhookEndpoints['ofApp']>> = [];
    for (const event of events) {
      if (event.app_id !== appId) {
        appId = event.app_id;
        ofApp = await endpoints.ofApp(tx, appId);
      }
      let leased: WebhookDeliveriesTable[] | undefined;
      let ordered = false;
      for (const endpoint of ofApp) {
        if (!endpoint.enabled || (endpoint.events && !endpoint.events.has(event.type))) continue;
        const row: WebhookDeliveriesTable = {
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
          last_attempt_at: null,
          last_duration_ms: null,
        };
        rows.push(row);
        // Ordered endpoints always go through a claim: it is what checks that no earlier seq is pending.
        if (endpoint.ordered) ordered = true;
        else if (dispatcher && dispatcher.room(event.app_id, endpoint.id) > 0) {
          row.lease_token = token!;
          row.next_attempt_at = Number(event.created_at) + leaseMs;
          (leased ??= []).push(row);
        }
      }
      // Counted at once: the endpoint's next event in this transaction sees the room this one took. An event
      // without rows is told too: its commit then wakes no claim here.
      dispatcher?.written(event.id, leased ?? [], ordered);
    }
    await insertDeliveries(tx, rows);
  };
}
