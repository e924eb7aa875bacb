// Batch send with partial success (seed 001): every item is answered in request order as created, duplicate
// (the first time's answer) or failed, with its reason. All lookups are set-based and all new items are
// written in one transaction, so a batch costs a fixed number of statements, not a few per item.
import type { Clock } from '../clock.js';
import { directKey, type Conversations } from '../conversations/conversations.js';
import { toWireEvent, type MessageBody } from '../conversations/events.js';
import { OncelyError } from '../errors.js';
import { fingerprint } from '../idempotency/fingerprint.js';
import { findKeys, type KeyRecord } from '../idempotency/keys.js';
import { appScope } from '../idempotency/scope.js';
import type { Ingest, SendCommand, SendOutcome, SendResult } from '../ingest/ingest.js';
import type { Metrics } from '../observability/metrics.js';
import type { Store, Tx } from '../store/store.js';
import type { BatchMode } from '../config.js';
import { appendMessages, claimKeys, storeResults } from './bulk-writes.js';

export interface BatchItem {
  idempotencyKey: string;
  from: string;
  conversationId?: string | undefined;
  to?: string | undefined;
  body: MessageBody;
}

export interface BatchItemError {
  code: string;
  message: string;
  /** Whether sending the same item again may succeed (the state it depends on may change). */
  retryable: boolean;
}

export interface BatchItemResult {
  index: number;
  idempotencyKey: string;
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

type Slot =
  | { state: 'new'; cmd: SendCommand; conversationId?: string }
  | { state: 'created'; result: SendResult; at: number }
  | { state: 'duplicate'; result: SendResult; at: number }
  | { state: 'failed'; error: BatchItemError }
  /** The same key earlier in this batch with the same payload: it shares that item's outcome. */
  | { state: 'repeat'; of: number };

const failure = (code: string, message: string, retryable = retryableCodes.has(code)): Slot => ({
  state: 'failed',
  error: { code, message, retryable },
});

/** An expected refusal (size limit, a plugin) fails its item; anything else fails the request. */
function fromError(err: unknown): Slot {
  if (err instanceof OncelyError)
    return failure(err.code, err.message, err.status >= 500 || retryableCodes.has(err.code));
  throw err;
}

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
}

export function createBatch(o: BatchOptions) {
  const ttlMs = o.idempotencyTtlSeconds * 1000;

  /** A live record of a key: the same payload is a duplicate, another payload a reused key. */
  function fromRecord(record: KeyRecord, fp: string): Slot {
    if (record.fingerprint !== fp) {
      return failure('idempotency_key_reused', 'this idempotencyKey was first used with a different item');
    }
    return {
      state: 'duplicate',
      result: JSON.parse(record.result) as SendResult,
      at: Number(record.created_at),
    };
  }

  /** Finds or creates the direct conversations of `to` items, and checks `conversationId` items' senders. */
  async function resolveTargets(tx: Tx, appId: string, items: BatchItem[], slots: Slot[]): Promise<void> {
    const open = () => slots.flatMap((s, i) => (s.state === 'new' ? [{ s, item: items[i]!, i }] : []));
    const direct = open().filter(({ item }) => item.to !== undefined);
    if (direct.length > 0) {
      const keys = [...new Set(direct.map(({ item }) => directKey(item.from, item.to!)))];
      const found = await tx
        .selectFrom('conversations')
        .select(['id', 'direct_key'])
        .where('app_id', '=', appId)
        .where('direct_key', 'in', keys)
        .execute();
      const byKey = new Map(found.map((c) => [c.direct_key!, c.id]));
      const missingUsers = new Set<string>();
      const unresolved = direct.filter(({ item }) => !byKey.has(directKey(item.from, item.to!)));
      if (unresolved.length > 0) {
        const wanted = [...new Set(unresolved.flatMap(({ item }) => [item.from, item.to!]))];
        const users = await tx
          .selectFrom('users')
          .select('id')
          .where('app_id', '=', appId)
          .where('id', 'in', wanted)
          .execute();
        const known = new Set(users.map((u) => u.id));
        for (const u of wanted) if (!known.has(u)) missingUsers.add(u);
      }
      for (const { item, i } of direct) {
        const key = directKey(item.from, item.to!);
        let id = byKey.get(key);
        if (!id) {
          const missing = [item.from, item.to!].filter((u) => missingUsers.has(u));
          if (missing.length > 0) {
            slots[i] = failure('user_not_found', `unknown users: ${missing.join(', ')}`);
            continue;
          }
          // First message of a pair: the conversation is created in this transaction (rolled back with it).
          id = await o.conversations.ensureDirect(appId, item.from, item.to!, tx);
          byKey.set(key, id);
        }
        const slot = slots[i] as Extract<Slot, { state: 'new' }>;
        slot.conversationId = id;
      }
    }

    const named = open().filter(({ item }) => item.conversationId !== undefined);
    if (named.length === 0) return;
    const convIds = [...new Set(named.map(({ item }) => item.conversationId!))];
    const senders = [...new Set(named.map(({ item }) => item.from))];
    const convs = await tx
      .selectFrom('conversations')
      .select('id')
      .where('app_id', '=', appId)
      .where('id', 'in', convIds)
      .execute();
    const members = await tx
      .selectFrom('members')
      .select(['conversation_id', 'user_id'])
      .where('app_id', '=', appId)
      .where('conversation_id', 'in', convIds)
      .where('user_id', 'in', senders)
      .where('left_pos', 'is', null)
      .execute();
    const existing = new Set(convs.map((c) => c.id));
    const membership = new Set(members.map((m) => `${m.conversation_id}\n${m.user_id}`));
    for (const { s, item, i } of named) {
      const conv = item.conversationId!;
      if (!existing.has(conv))
        slots[i] = failure('conversation_not_found', `conversation ${conv} does not exist`);
      else if (!membership.has(`${conv}\n${item.from}`))
        slots[i] = failure('not_member', `${item.from} is not a member of conversation ${conv}`);
      else (s as Extract<Slot, { state: 'new' }>).conversationId = conv;
    }
  }

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
    async send(
      appId: string,
      input: { mode?: BatchMode | undefined; items: BatchItem[] },
    ): Promise<BatchAnswer> {
      const { items } = input;
      const mode = input.mode ?? o.defaultMode;
      checkSize(items.length);
      const now = o.clock.now();
      const fps = items.map((it) =>
        fingerprint({ from: it.from, conversationId: it.conversationId, to: it.to, body: it.body }),
      );
      const slots: Slot[] = [];
      const firstOfKey = new Map<string, number>();
      items.forEach((item, i) => {
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
              source: 'batch',
            },
          });
        }
      });

      // One query classifies every key: new, a repeat of an earlier batch, or reused with another item.
      const records = await findKeys(o.store.db, appId, appScope, [...firstOfKey.keys()], now);
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
            await resolveTargets(tx, appId, items, slots);
            const fresh = slots.flatMap((s, i) => (s.state === 'new' ? [{ s, i }] : []));
            const held = await claimKeys(
              tx,
              { appId, scope: appScope },
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
                appScope,
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
            await storeResults(tx, { appId, scope: appScope }, results);
          });
        } catch (err) {
          if (!(err instanceof AtomicAbort)) throw err;
          created.length = 0;
        }
      }
      if (mode === 'atomic' && anyFailed()) abortAll(slots);
      // Published and counted after commit; afterCommit hooks run once per created message.
      await o.ingest.afterCommit([...created, ...repeats]);
      return answer(mode, items, slots, now, o.metrics);
    },
  };
}

function replayOutcome(slot: Slot, record: KeyRecord): SendOutcome {
  const result = JSON.parse(record.result) as SendResult;
  const firstSeenAt = Number(record.created_at);
  return slot.state === 'duplicate'
    ? { status: 'duplicate', result, firstSeenAt }
    : { status: 'reused', result, firstSeenAt };
}

/** Atomic mode: one failure fails the batch; what would have been created is reported as aborted. */
function abortAll(slots: Slot[]): void {
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

function answer(
  mode: BatchMode,
  items: BatchItem[],
  slots: Slot[],
  now: number,
  metrics: Metrics,
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
  // Counted once per batch, not per item: label lookups add up at a thousand items.
  for (const status of ['created', 'duplicate', 'failed'] as const) {
    if (summary[status] > 0) metrics.batchItems.inc({ mode, status }, summary[status]);
  }
  for (const [code, n] of failures) metrics.batchItemFailures.inc({ code }, n);
  if (repeats > 0) metrics.duplicates.inc({ source: 'batch' }, repeats);
  return { mode, results, summary };
}

export type Batch = ReturnType<typeof createBatch>;
