// The queue consumers' way into the one ingest: a group of items under the consumer's scope, written by the
// set-based writer in one transaction and answered per item. Behind an interface so the consumers depend on
// the outcomes they act on, not on how the writer is built.
import { OncelyError } from '../errors.js';
import type { Ingest, Item } from '../ingest/ingest.js';

export type QueueItemOutcome =
  | { status: 'created'; messageId: string }
  /** A repeat of a key already committed with the same payload. */
  | { status: 'duplicate'; messageId: string }
  /** Can never succeed (unknown conversation, key reused with another payload, …). */
  | { status: 'poison'; code: string; message: string }
  /** May succeed later (the store is down, the key is being claimed concurrently). */
  | { status: 'transient'; code: string; message: string };

export interface QueueIngest {
  /**
   * Writes the items as one group under `scope` (Invariant 1: each key's record commits with its message)
   * and resolves after that commit (Invariant 2), with one outcome per item in order. Never rejects: a
   * failure of the whole group is a transient outcome of each item.
   */
  submit(appId: string, scope: string, source: string, items: Item[]): Promise<QueueItemOutcome[]>;
}

/** Item failures a later delivery may get past; every other refusal is final for a queue message. */
const transientCodes = new Set(['idempotency_key_busy']);

/** The QueueIngest over ingest's list entry (partial mode: each item on its own). */
export function createQueueIngest(ingest: Pick<Ingest, 'sendItems'>): QueueIngest {
  return {
    async submit(appId, scope, source, items) {
      try {
        const outcomes = await ingest.sendItems({ appId, scope, source, mode: 'partial', items });
        return outcomes.map((o): QueueItemOutcome => {
          if (o.status !== 'failed') return { status: o.status, messageId: o.result.id };
          const { code, message } = o.error;
          return { status: transientCodes.has(code) ? 'transient' : 'poison', code, message };
        });
      } catch (err) {
        // A refusal of the whole group (a rule, not the store) is final; anything else may pass later.
        const refused = err instanceof OncelyError && err.status < 500;
        const code = err instanceof OncelyError ? err.code : 'ingest_failed';
        const message = (err as Error).message ?? String(err);
        return items.map(() => ({ status: refused ? 'poison' : 'transient', code, message }));
      }
    },
  };
}
