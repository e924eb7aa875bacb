// Lists of batch-like items — the batch API's, a queue consumer's — written with partial success (or all
// or nothing): every item ends created, duplicate (the first answer of its key) or failed with its reason,
// in a fixed number of statements for the whole list.
import type { Clock } from '../clock.js';
import type { Conversations } from '../conversations/conversations.js';
import { fingerprint } from '../idempotency/fingerprint.js';
import { findKeyRecords, keyId, type KeyRef } from '../idempotency/keys.js';
import type { Metrics } from '../observability/metrics.js';
import type { Store } from '../store/store.js';
import {
  abortAll,
  failure,
  fromError,
  fromRecord,
  fromWrite,
  isRefused,
  itemOutcomes,
  type ItemOutcome,
  type ListItem,
  type Slot,
} from './item-slots.js';
import { resolveDirectTargets } from './resolve-targets.js';
import type { Outcome } from './group-commit.js';
import {
  WriteRefused,
  type SendCommand,
  type SendOutcome,
  type WriteOutcome,
  type Writer,
} from './writer.js';

export type { Item, ItemError, ItemOutcome, ListItem, RefusedItem } from './item-slots.js';

export interface SendItems {
  appId: string;
  /** Whose keys the items' keys are: `app` for the batch API, `queue:{name}` for a queue consumer. */
  scope: string;
  /** Entry point, for metrics: batch, queue. */
  source: string;
  /** `partial`: each item on its own; `atomic`: nothing is created when any item fails. */
  mode: 'partial' | 'atomic';
  /** In order; an entry that failed the item schema is given as refused and fails in its place. */
  items: ListItem[];
}

export interface ItemsDeps {
  store: Store;
  writer: Writer;
  conversations: Conversations;
  clock: Clock;
  metrics: Metrics;
  /** Size limit and plugins' beforeCommit, as for any send. */
  prepare(cmd: SendCommand): SendCommand | Promise<SendCommand>;
  /** Publishes, counts and hooks what was committed, as for any send. */
  afterCommit(committed: Array<{ cmd: SendCommand; outcome: Outcome<SendOutcome> }>): void;
}

export function createItemSender(d: ItemsDeps) {
  return async function sendItems(input: SendItems): Promise<ItemOutcome[]> {
    const { appId, source, items } = input;
    const now = d.clock.now();
    const fps = items.map((it) =>
      isRefused(it)
        ? ''
        : fingerprint({ from: it.from, conversationId: it.conversationId, to: it.to, body: it.body }),
    );
    const slots = classify(input, fps);
    const keyOf = (i: number): KeyRef => (slots[i] as Extract<Slot, { state: 'new' }>).cmd.idempotency!;

    // One query classifies every key: new, a repeat of an earlier list, or reused with another item.
    const fresh = slots.flatMap((s, i) => (s.state === 'new' ? [i] : []));
    const records = fresh.length > 0 ? await findKeyRecords(d.store.db, fresh.map(keyOf), now) : new Map();
    let repeats = 0;
    let conflicts = 0;
    for (const i of fresh) {
      const record = records.get(keyId(keyOf(i)));
      if (!record) continue;
      slots[i] = fromRecord(record, fps[i]!);
      if (slots[i]!.state === 'duplicate') repeats++;
      else conflicts++;
    }
    const preparing: Array<Promise<void>> = [];
    slots.forEach((slot, i) => {
      if (slot.state !== 'new') return;
      try {
        const prepared = d.prepare(slot.cmd);
        if (!(prepared instanceof Promise)) slot.cmd = prepared;
        else
          preparing.push(
            prepared.then(
              (cmd) => void (slot.cmd = cmd),
              (err: unknown) => void (slots[i] = fromError(err)),
            ),
          );
      } catch (err) {
        slots[i] = fromError(err);
      }
    });
    await Promise.all(preparing);

    const atomic = input.mode === 'atomic';
    const anyFailed = () => slots.some((s) => s.state === 'failed');
    const committed: Array<{ cmd: SendCommand; outcome: WriteOutcome }> = [];
    if (!(atomic && anyFailed()) && slots.some((s) => s.state === 'new')) {
      try {
        await d.store.transaction(async (tx) => {
          await resolveDirectTargets(
            tx,
            d.conversations,
            appId,
            items.map((it) => (isRefused(it) ? undefined : it)),
            slots,
          );
          if (atomic && anyFailed()) throw new WriteRefused([]);
          const writing = slots.flatMap((s, i) => (s.state === 'new' ? [{ cmd: s.cmd, i }] : []));
          const outcomes = await d.writer.write(
            tx,
            writing.map((w) => w.cmd),
            now,
            { allOrNothing: atomic },
          );
          writing.forEach(({ cmd, i }, n) => {
            const outcome = outcomes[n]!;
            slots[i] = fromWrite(outcome);
            committed.push({ cmd, outcome });
          });
        });
      } catch (err) {
        if (!(err instanceof WriteRefused)) throw err;
        // Rolled back: the refusals are reported, everything else is aborted below.
        committed.length = 0;
        const writing = slots.flatMap((s, i) => (s.state === 'new' ? [i] : []));
        err.outcomes.forEach((o, n) => {
          const i = writing[n]!;
          if (!o.ok || o.value.status === 'reused') slots[i] = fromWrite(o);
        });
      }
    }
    if (atomic && anyFailed()) abortAll(slots);
    // Repeats of an item earlier in the list, of an earlier list, and of a concurrent one.
    repeats += slots.filter((s) => s.state === 'repeat' && slots[s.of]!.state !== 'failed').length;
    if (repeats > 0) d.metrics.duplicates.of(source, { source }).inc(repeats);
    if (conflicts > 0) d.metrics.idempotencyConflicts.inc({ source }, conflicts);
    d.afterCommit(committed);
    return itemOutcomes(slots);
  };
}

/** Items that fail on their own (shape) and repeats of a key earlier in the list; the rest are new. */
function classify(input: SendItems, fps: string[]): Slot[] {
  const firstOfKey = new Map<string, number>();
  return input.items.map((item, i): Slot => {
    if (isRefused(item)) return { state: 'failed', error: item.refused };
    const first = firstOfKey.get(item.idempotencyKey);
    if (first !== undefined) {
      return fps[first] === fps[i]
        ? { state: 'repeat', of: first }
        : failure('idempotency_key_reused', `idempotencyKey repeats item ${first} with a different item`);
    }
    firstOfKey.set(item.idempotencyKey, i);
    if ((item.conversationId === undefined) === (item.to === undefined))
      return failure('invalid_item', 'an item names exactly one of "conversationId" and "to"');
    if (item.to !== undefined && item.to === item.from)
      return failure('invalid_item', '"to" must differ from "from"');
    return {
      state: 'new',
      cmd: {
        appId: input.appId,
        conversationId: item.conversationId ?? '',
        senderId: item.from,
        body: item.body,
        idempotency: {
          appId: input.appId,
          scope: input.scope,
          key: item.idempotencyKey,
          fingerprint: fps[i]!,
        },
        source: input.source,
      },
    };
  });
}
