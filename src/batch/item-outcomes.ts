// The outcome of each batch item while a batch runs (a slot per item), and the answer made from them: results
// in request order, the summary, and the metrics.
import type { BatchMode } from '../config.js';
import type { MessageBody } from '../conversations/events.js';
import { OncelyError } from '../errors.js';
import type { KeyRecord } from '../idempotency/keys.js';
import type { SendCommand, SendOutcome, SendResult } from '../ingest/ingest.js';
import type { Metrics } from '../observability/metrics.js';

export interface BatchItem {
  idempotencyKey: string;
  from: string;
  conversationId?: string | undefined;
  to?: string | undefined;
  body: MessageBody;
}

/**
 * An item that failed the item schema: it fails alone with `invalid_item` (in atomic mode it fails the batch);
 * its key is kept for the answer when it was a string.
 */
export interface RejectedItem {
  rejected: string;
  idempotencyKey: string | null;
}

export type BatchInputItem = BatchItem | RejectedItem;

export const isRejected = (item: BatchInputItem): item is RejectedItem => 'rejected' in item;

export interface BatchItemError {
  code: string;
  message: string;
  /** Whether sending the same item again may succeed (the state it depends on may change). */
  retryable: boolean;
}

export interface BatchItemResult {
  index: number;
  /** null for an item without a usable key (it failed the item schema). */
  idempotencyKey: string | null;
  status: 'created' | 'duplicate' | 'failed';
  isIdempotent: boolean;
  messageId?: string;
  conversationId?: string;
  seq?: number;
  processedAt: string;
  error?: BatchItemError;
}

export interface BatchAnswer {
  mode: BatchMode;
  results: BatchItemResult[];
  summary: { total: number; created: number; duplicate: number; failed: number };
}

/** Failures that depend on state which may change, so that the same item may pass on a later retry. */
const retryableCodes = new Set([
  'conversation_not_found',
  'user_not_found',
  'not_member',
  'batch_aborted',
  'idempotency_key_busy',
]);

export type Slot =
  | { state: 'new'; cmd: SendCommand; conversationId?: string }
  | { state: 'created'; result: SendResult; at: number }
  | { state: 'duplicate'; result: SendResult; at: number }
  | { state: 'failed'; error: BatchItemError }
  /** The same key earlier in this batch with the same payload: it shares that item's outcome. */
  | { state: 'repeat'; of: number };

export const failure = (code: string, message: string, retryable = retryableCodes.has(code)): Slot => ({
  state: 'failed',
  error: { code, message, retryable },
});

/** An expected refusal (size limit, a plugin) fails its item; anything else fails the request. */
export function fromError(err: unknown): Slot {
  if (err instanceof OncelyError)
    return failure(err.code, err.message, err.status >= 500 || retryableCodes.has(err.code));
  throw err;
}

/** A live record of a key: the same payload is a duplicate, another payload a reused key. */
export function fromRecord(record: KeyRecord, fp: string): Slot {
  if (record.fingerprint !== fp) {
    return failure('idempotency_key_reused', 'this idempotencyKey was first used with a different item');
  }
  return {
    state: 'duplicate',
    result: JSON.parse(record.result) as SendResult,
    at: Number(record.created_at),
  };
}

export function replayOutcome(slot: Slot, record: KeyRecord): SendOutcome {
  const result = JSON.parse(record.result) as SendResult;
  const firstSeenAt = Number(record.created_at);
  return slot.state === 'duplicate'
    ? { status: 'duplicate', result, firstSeenAt }
    : { status: 'reused', result, firstSeenAt };
}

/** Atomic mode: one failure fails the batch; what would have been created is reported as aborted. */
export function abortAll(slots: Slot[]): void {
  const culprits = slots.flatMap((s, i) => (s.state === 'failed' ? [i] : []));
  slots.forEach((s, i) => {
    if (s.state === 'new' || s.state === 'created') {
      slots[i] = failure(
        'batch_aborted',
        `atomic batch: nothing was created because item ${culprits[0]} failed`,
        true,
      );
    }
  });
}

export function answer(
  mode: BatchMode,
  items: BatchInputItem[],
  slots: Slot[],
  now: number,
  metrics: Metrics,
  source = 'batch',
): BatchAnswer {
  const summary = { total: items.length, created: 0, duplicate: 0, failed: 0 };
  const failures = new Map<string, number>();
  let repeats = 0;
  const results = items.map((item, index): BatchItemResult => {
    let slot = slots[index]!;
    let repeat = false;
    if (slot.state === 'repeat') {
      repeat = true;
      slot = slots[slot.of]!;
      if (slot.state !== 'failed') repeats++;
    }
    const base = { index, idempotencyKey: item.idempotencyKey };
    let result: BatchItemResult;
    if (slot.state === 'created' || slot.state === 'duplicate') {
      const duplicate = repeat || slot.state === 'duplicate';
      result = {
        ...base,
        status: duplicate ? 'duplicate' : 'created',
        isIdempotent: duplicate,
        messageId: slot.result.id,
        conversationId: slot.result.conversationId,
        seq: slot.result.seq,
        processedAt: new Date(slot.at).toISOString(),
      };
    } else if (slot.state === 'failed') {
      result = {
        ...base,
        status: 'failed',
        isIdempotent: false,
        processedAt: new Date(now).toISOString(),
        error: slot.error,
      };
      failures.set(slot.error.code, (failures.get(slot.error.code) ?? 0) + 1);
    } else {
      throw new Error(`batch item ${index} left unresolved`);
    }
    summary[result.status]++;
    return result;
  });
  // Counted once per batch, not per item: label lookups add up at a thousand items. Other entry points
  // (queue consumers) keep counts of their own.
  if (source === 'batch') {
    for (const status of ['created', 'duplicate', 'failed'] as const) {
      if (summary[status] > 0) metrics.batchItems.inc({ mode, status }, summary[status]);
    }
    for (const [code, n] of failures) metrics.batchItemFailures.inc({ code }, n);
  }
  if (repeats > 0) metrics.duplicates.inc({ source }, repeats);
  return { mode, results, summary };
}
