// Batch send with partial success (seed 001): every item is answered in request order as created, duplicate
// (the first time's answer) or failed, with its reason. All lookups are set-based and all new items are
// written in one transaction, so a batch costs a fixed number of statements, not a few per item.
import type { Clock } from '../clock.js';
import type { BatchMode } from '../config.js';
import type { Conversations } from '../conversations/conversations.js';
import { toWireEvent } from '../conversations/events.js';
import { OncelyError } from '../errors.js';
import { fingerprint } from '../idempotency/fingerprint.js';
import { findKeys } from '../idempotency/keys.js';
import { appScope } from '../idempotency/scope.js';
import type { Ingest, SendCommand, SendOutcome, SendResult } from '../ingest/ingest.js';
import type { Metrics } from '../observability/metrics.js';
import type { Store } from '../store/store.js';
import { appendMessages, claimKeys, storeResults } from './bulk-writes.js';
import type { EventWriter } from '../conversations/events.js';
import {
  abortAll,
  answer,
  failure,
  fromError,
  isRejected,
  fromRecord,
  replayOutcome,
  type BatchAnswer,
  type BatchInputItem,
  type BatchItem,
  type Slot,
} from './item-outcomes.js';
import { resolveTargets } from './resolve-targets.js';

export type { BatchAnswer, BatchInputItem, BatchItem, BatchItemResult } from './item-outcomes.js';

/** Thrown inside the transaction to roll an atomic batch back. */
class AtomicAbort extends Error {}

export interface BatchOptions {
  store: Store;
  ingest: Ingest;
  conversations: Conversations;
  clock: Clock;
  metrics: Metrics;
  idempotencyTtlSeconds: number;
  maxItems: number;
  defaultMode: BatchMode;
  /** Run in the transaction of the appended messages (the webhook outbox). */
  eventWriters?: EventWriter[];
}

export function createBatch(o: BatchOptions) {
  const ttlMs = o.idempotencyTtlSeconds * 1000;

  function checkSize(count: number): void {
    if (count > o.maxItems) {
      throw new OncelyError(
        413,
        'batch_too_large',
        `a batch holds at most ${o.maxItems} items; this one has ${count}`,
      );
    }
  }

  return {
    checkSize,
    /**
     * `scope` and `source` default to a batch call's (`app`, `batch`); queue consumers pass their own
     * (`queue:{name}`, `queue`).
     */
    async send(
      appId: string,
      input: {
        mode?: BatchMode | undefined;
        items: BatchInputItem[];
        scope?: string | undefined;
        source?: string | undefined;
      },
    ): Promise<BatchAnswer> {
      const { items: inputItems } = input;
      // Rejected items fail in the classification below and are never read again: every later step reads
      // only items whose slot is still `new`, which all passed the item schema.
      const items = inputItems as BatchItem[];
      const scope = input.scope ?? appScope;
      const source = input.source ?? 'batch';
      const mode = input.mode ?? o.defaultMode;
      checkSize(items.length);
      const now = o.clock.now();
      const fps = inputItems.map((it) =>
        isRejected(it)
          ? ''
          : fingerprint({ from: it.from, conversationId: it.conversationId, to: it.to, body: it.body }),
      );
      const slots: Slot[] = [];
      const firstOfKey = new Map<string, number>();
      inputItems.forEach((item, i) => {
        if (isRejected(item)) {
          slots.push(failure('invalid_item', item.rejected));
          return;
        }
        const first = firstOfKey.get(item.idempotencyKey);
        if (first !== undefined) {
          slots.push(
            fps[first] === fps[i]
              ? { state: 'repeat', of: first }
              : failure(
                  'idempotency_key_reused',
                  `idempotencyKey repeats item ${first} with a different item`,
                ),
          );
          return;
        }
        firstOfKey.set(item.idempotencyKey, i);
        if ((item.conversationId === undefined) === (item.to === undefined)) {
          slots.push(failure('invalid_item', 'an item names exactly one of "conversationId" and "to"'));
        } else if (item.to !== undefined && item.to === item.from) {
          slots.push(failure('invalid_item', '"to" must differ from "from"'));
        } else {
          slots.push({
            state: 'new',
            cmd: {
              appId,
              conversationId: item.conversationId ?? '',
              senderId: item.from,
              body: item.body,
              source,
            },
          });
        }
      });

      // One query classifies every key: new, a repeat of an earlier batch, or reused with another item.
      const records = await findKeys(o.store.db, appId, scope, [...firstOfKey.keys()], now);
      const repeats: Array<{ cmd: SendCommand; outcome: SendOutcome }> = [];
      slots.forEach((slot, i) => {
        const record = records.get(items[i]!.idempotencyKey);
        if (slot.state !== 'new' || !record) return;
        slots[i] = fromRecord(record, fps[i]!);
        repeats.push({ cmd: slot.cmd, outcome: replayOutcome(slots[i]!, record) });
      });
      // Size limits and plugins' beforeCommit, as for any send; a refusal fails only its item.
      await Promise.all(
        slots.map(async (slot, i) => {
          if (slot.state !== 'new') return;
          try {
            slot.cmd = await o.ingest.prepare(slot.cmd);
          } catch (err) {
            slots[i] = fromError(err);
          }
        }),
      );

      const created: Array<{ cmd: SendCommand; outcome: SendOutcome }> = [];
      const anyFailed = () => slots.some((s) => s.state === 'failed');
      if (!(mode === 'atomic' && anyFailed()) && slots.some((s) => s.state === 'new')) {
        try {
          await o.store.transaction(async (tx) => {
            await resolveTargets(tx, o.conversations, appId, items, slots);
            const fresh = slots.flatMap((s, i) => (s.state === 'new' ? [{ s, i }] : []));
            const held = await claimKeys(
              tx,
              { appId, scope },
              fresh.map(({ i }) => ({ key: items[i]!.idempotencyKey, fingerprint: fps[i]! })),
              now,
              ttlMs,
            );
            // Keys claimed meanwhile by a concurrent batch (another instance): answer from its record.
            const lost = fresh.filter(({ i }) => !held.has(items[i]!.idempotencyKey));
            if (lost.length > 0) {
              const theirs = await findKeys(
                tx,
                appId,
                scope,
                lost.map(({ i }) => items[i]!.idempotencyKey),
                now,
              );
              for (const { s, i } of lost) {
                const record = theirs.get(items[i]!.idempotencyKey);
                slots[i] = record
                  ? fromRecord(record, fps[i]!)
                  : failure('idempotency_key_busy', 'the key is being claimed concurrently');
                if (record) repeats.push({ cmd: s.cmd, outcome: replayOutcome(slots[i]!, record) });
              }
            }
            if (mode === 'atomic' && anyFailed()) throw new AtomicAbort();
            const writing = fresh.filter(({ i }) => held.has(items[i]!.idempotencyKey));
            const rows = await appendMessages(
              tx,
              appId,
              writing.map(({ s }) => ({
                conversationId: s.conversationId!,
                senderId: s.cmd.senderId,
                body: s.cmd.body,
              })),
              now,
              o.eventWriters,
            );
            const results = writing.map(({ s, i }, n) => {
              const event = toWireEvent(rows[n]!);
              const result: SendResult = {
                id: event.id,
                conversationId: event.conversationId,
                seq: event.seq,
                createdAt: event.createdAt,
              };
              const cmd = { ...s.cmd, conversationId: event.conversationId };
              created.push({
                cmd,
                outcome: { status: 'created', result, event, pos: Number(rows[n]!.pos), firstSeenAt: now },
              });
              slots[i] = { state: 'created', result, at: now };
              return { key: items[i]!.idempotencyKey, result };
            });
            await storeResults(tx, { appId, scope }, results);
          });
        } catch (err) {
          if (!(err instanceof AtomicAbort)) throw err;
          created.length = 0;
        }
      }
      if (mode === 'atomic' && anyFailed()) abortAll(slots);
      // Published and counted after commit; afterCommit hooks run once per created message.
      await o.ingest.afterCommit([...created, ...repeats]);
      return answer(mode, inputItems, slots, now, o.metrics, source);
    },
  };
}

export type Batch = ReturnType<typeof createBatch>;
