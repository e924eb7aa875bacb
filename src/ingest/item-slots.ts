// The state of each item of a list of batch-like items while it is written (a slot per item), and the
// outcome each ends with.
import type { MessageBody } from '../conversations/events.js';
import { isRetryable, OncelyError, type ErrorCode } from '../errors.js';
import type { KeyRecord } from '../idempotency/keys.js';
import type { SendCommand, SendResult, WriteOutcome } from './writer.js';

/** A batch item, a queue message: one keyed send to a conversation, or to the direct conversation with `to`. */
export interface Item {
  idempotencyKey: string;
  from: string;
  conversationId?: string | undefined;
  to?: string | undefined;
  body: MessageBody;
}

export interface ItemError {
  code: string;
  message: string;
  /** Whether sending the same item again may succeed (the state it depends on may change). */
  retryable: boolean;
}

/** An entry that could not be read as an item (it failed the item schema): answered in its place as failed. */
export interface RefusedItem {
  refused: ItemError;
}

export type ListItem = Item | RefusedItem;

export const isRefused = (item: ListItem): item is RefusedItem => 'refused' in item;

/** How an item ended; a duplicate's result and time are those of its key's first send. */
export type ItemOutcome =
  | { status: 'created'; result: SendResult; at: number }
  | { status: 'duplicate'; result: SendResult; at: number }
  | { status: 'failed'; error: ItemError };

export type Slot =
  /** Still to be written; `cmd.conversationId` is empty until a `to` item's conversation is found. */
  | { state: 'new'; cmd: SendCommand }
  | { state: 'created'; result: SendResult; at: number }
  | { state: 'duplicate'; result: SendResult; at: number }
  | { state: 'failed'; error: ItemError }
  /** The same key earlier in this list with the same payload: it shares that item's outcome. */
  | { state: 'repeat'; of: number };

// Whether a failure is retryable comes from the catalogue: the state it depends on may change (errors.ts).
export const failure = (code: ErrorCode, message: string, retryable = isRetryable(code)): Slot => ({
  state: 'failed',
  error: { code, message, retryable },
});

/** An expected refusal (size limit, a plugin) fails its item; anything else fails the request. */
export function fromError(err: unknown): Slot {
  if (err instanceof OncelyError)
    return { state: 'failed', error: { code: err.code, message: err.message, retryable: err.retryable } };
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

/** What the writer made of an item's send. */
export function fromWrite(outcome: WriteOutcome): Slot {
  if (!outcome.ok) return fromError(outcome.error);
  const { value } = outcome;
  if (value.status === 'created') return { state: 'created', result: value.result, at: value.firstSeenAt };
  if (value.status === 'duplicate')
    return { state: 'duplicate', result: value.result, at: value.firstSeenAt };
  return failure('idempotency_key_reused', 'this idempotencyKey was first used with a different item');
}

/** Atomic mode: one failure fails the list; what would have been created is reported as aborted. */
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

/** Each item's outcome; a repeat within the list shares its first's (a duplicate when that one succeeded). */
export function itemOutcomes(slots: Slot[]): ItemOutcome[] {
  return slots.map((slot, index) => {
    const own = slot.state === 'repeat' ? slots[slot.of]! : slot;
    if (own.state === 'created' || own.state === 'duplicate') {
      const duplicate = slot.state === 'repeat' || own.state === 'duplicate';
      return { status: duplicate ? 'duplicate' : 'created', result: own.result, at: own.at };
    }
    if (own.state === 'failed') return { status: 'failed', error: own.error };
    throw new Error(`item ${index} left unresolved`);
  });
}
