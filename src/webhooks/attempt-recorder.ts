// Attempts' outcomes recorded together: one transaction per `recordBatch` answers or `recordDelayMs`,
// whichever comes first, so that a fast receiver's answers cost a statement per group, not per answer.
import type { Clock } from '../clock.js';
import type { Logger } from '../observability/logger.js';
import type { AttemptOutcome, Deliveries } from './deliveries.js';

/** Outcomes wait at most this long (or for `recordBatch` of them) to be recorded together. */
const recordDelayMs = 5;
const recordBatch = 128;

export interface AttemptRecorderOptions {
  deliveries: Deliveries;
  clock: Clock;
  logger: Logger;
  /** After each batch is recorded (or failed to be: the rows are then due again after their lease). */
  recorded(batch: readonly AttemptOutcome[]): void;
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

export function createAttemptRecorder({ deliveries, clock, logger, recorded }: AttemptRecorderOptions) {
  let outcomes: AttemptOutcome[] = [];
  let flushing: Promise<void> = Promise.resolve();
  let flushQueued = false;
  let flushTimer: NodeJS.Timeout | undefined;
  let nextFlush = deferred();

  function flush(): void {
    flushQueued = false;
    const batch = outcomes;
    const settled = nextFlush;
    outcomes = [];
    nextFlush = deferred();
    flushing = flushing
      .then(() => deliveries.record(batch, clock.now()))
      .catch((err) => logger.error({ err, count: batch.length }, 'recording webhook attempts failed'))
      .finally(() => {
        settled.resolve();
        recorded(batch);
      });
  }

  return {
    /** Queues one outcome; the promise resolves once it is recorded. */
    record(outcome: AttemptOutcome): Promise<void> {
      outcomes.push(outcome);
      if (!flushQueued) {
        flushQueued = true;
        flushTimer = setTimeout(flush, recordDelayMs);
      } else if (outcomes.length >= recordBatch) {
        clearTimeout(flushTimer);
        flush();
      }
      return nextFlush.promise;
    },
    /** Records what is queued now and waits for every batch. */
    async close(): Promise<void> {
      if (flushQueued) {
        clearTimeout(flushTimer);
        flush();
      }
      await flushing;
    },
  };
}
