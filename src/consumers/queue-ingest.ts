// The queue consumers' way into the one ingest: a group of batch items under the consumer's scope, written
// together, answered per item. Behind an interface so the consumers do not depend on how the writer is built.
import type { Batch, BatchItem } from '../batch/batch.js';
import { OncelyError } from '../errors.js';

export type ItemOutcome =
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
  submit(appId: string, scope: string, source: string, items: BatchItem[]): Promise<ItemOutcome[]>;
}

/** Item failures a later delivery may get past; every other refusal is final for a queue message. */
const transientCodes = new Set(['idempotency_key_busy']);

/** The QueueIngest over the set-based batch path (one transaction per group, partial mode). */
export function createBatchQueueIngest(batch: Batch): QueueIngest {
  return {
    async submit(appId, scope, source, items) {
      try {
        const answer = await batch.send(appId, { mode: 'partial', items, scope, source });
        return answer.results.map((r): ItemOutcome => {
          if (r.status !== 'failed') return { status: r.status, messageId: r.messageId! };
          const { code, message } = r.error!;
          return { status: transientCodes.has(code) ? 'transient' : 'poison', code, message };
        });
      } catch (err) {
        const refused = err instanceof OncelyError && err.status < 500;
        const code = err instanceof OncelyError ? err.code : 'ingest_failed';
        const message = (err as Error).message ?? String(err);
        return items.map(() => ({ status: refused ? 'poison' : 'transient', code, message }));
      }
    },
  };
}
