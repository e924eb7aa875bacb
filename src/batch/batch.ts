// Batch send with partial success (seed 001): the batch API's items go through ingest's list entry (keys of
// the app's scope, one transaction, a fixed number of statements), and every item is answered in request
// order as created, duplicate (the first time's answer) or failed, with its reason, plus a summary.
import type { BatchMode } from '../config.js';
import { OncelyError, type ErrorCode } from '../errors.js';
import { appScope } from '../idempotency/scope.js';
import type { Ingest, Item, ItemError, ItemOutcome } from '../ingest/ingest.js';
import type { Metrics } from '../observability/metrics.js';

export type BatchItem = Item;

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
  error?: ItemError;
}

export interface BatchAnswer {
  mode: BatchMode;
  results: BatchItemResult[];
  summary: { total: number; created: number; duplicate: number; failed: number };
}

export interface BatchOptions {
  ingest: Ingest;
  metrics: Metrics;
  maxItems: number;
  defaultMode: BatchMode;
  /** Time of failures' `processedAt`. */
  clock: { now(): number };
}

export interface BatchInput {
  mode?: BatchMode | undefined;
  items: BatchInputItem[];
  /** Whose keys these are; a batch call's are the app's (`app`), a queue consumer's `queue:{name}`. */
  scope?: string | undefined;
  /** Entry point, for metrics: `batch` (the default) counts batch item metrics; others keep their own. */
  source?: string | undefined;
}

export interface Batch {
  /** `413 batch_too_large` above the limit (checked before the items are validated). */
  checkSize(count: number): void;
  send(appId: string, input: BatchInput): Promise<BatchAnswer>;
}

export function createBatch(o: BatchOptions): Batch {
  function checkSize(count: number): void {
    if (count > o.maxItems) {
      throw OncelyError.of(
        'batch_too_large',
        `a batch holds at most ${o.maxItems} items; this one has ${count}`,
      );
    }
  }

  return {
    checkSize,
    async send(appId, input) {
      checkSize(input.items.length);
      const mode = input.mode ?? o.defaultMode;
      const source = input.source ?? 'batch';
      const outcomes = await o.ingest.sendItems({
        appId,
        scope: input.scope ?? appScope,
        source,
        mode,
        // An item of the wrong shape fails alone (in atomic mode it fails the batch).
        items: input.items.map((item) =>
          isRejected(item)
            ? {
                refused: {
                  code: 'invalid_item' satisfies ErrorCode,
                  message: item.rejected,
                  retryable: false,
                },
              }
            : item,
        ),
      });
      const answered = answer(mode, input.items, outcomes, o.clock.now());
      if (source === 'batch') countBatch(answered, o.metrics);
      return answered;
    },
  };
}

function answer(mode: BatchMode, items: BatchInputItem[], outcomes: ItemOutcome[], now: number): BatchAnswer {
  const summary = { total: items.length, created: 0, duplicate: 0, failed: 0 };
  // Most items share a time (the batch's, or one earlier batch's): each is formatted once.
  const times = new Map<number, string>();
  const iso = (ms: number) => {
    let text = times.get(ms);
    if (text === undefined) times.set(ms, (text = new Date(ms).toISOString()));
    return text;
  };
  // Plain object literals, not spreads: a thousand results per batch.
  const results = outcomes.map((outcome, index): BatchItemResult => {
    const idempotencyKey = items[index]!.idempotencyKey;
    summary[outcome.status]++;
    if (outcome.status === 'failed') {
      return {
        index,
        idempotencyKey,
        status: 'failed',
        isIdempotent: false,
        processedAt: iso(now),
        error: outcome.error,
      };
    }
    return {
      index,
      idempotencyKey,
      status: outcome.status,
      isIdempotent: outcome.status === 'duplicate',
      messageId: outcome.result.id,
      conversationId: outcome.result.conversationId,
      seq: outcome.result.seq,
      processedAt: iso(outcome.at),
    };
  });
  return { mode, results, summary };
}

/** Batch item metrics, counted once per batch, not per item: label lookups add up at a thousand items. */
function countBatch({ mode, results, summary }: BatchAnswer, metrics: Metrics): void {
  for (const status of ['created', 'duplicate', 'failed'] as const) {
    if (summary[status] > 0) metrics.batchItems.inc({ mode, status }, summary[status]);
  }
  const failures = new Map<string, number>();
  for (const r of results) if (r.error) failures.set(r.error.code, (failures.get(r.error.code) ?? 0) + 1);
  for (const [code, n] of failures) metrics.batchItemFailures.inc({ code }, n);
}
