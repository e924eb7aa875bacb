// What follows a durable commit of sends, whichever way they were written (group commit, a send with its
// setup, a list of items): keys and answers are remembered for retries (not a list's), the outcomes counted,
// the events published in one bus call, and the plugins' afterCommit hooks queued.
import type { AppendedEvent } from '../conversations/event-log.js';
import type { WireEvent } from '../conversations/events.js';
import type { CommittedKeys } from '../idempotency/committed-keys.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { Bus, BusMessage } from '../realtime/bus.js';
import type { Outcome } from './group-commit.js';
import type { IngestHooks } from './ingest.js';
import type { SendCommand, SendOutcome, SendResult } from './writer.js';

export interface AfterCommitOptions {
  bus: Bus;
  metrics: Metrics;
  logger: Logger;
  hooks: IngestHooks[];
  /** Where each created send's key and answer go, for its retries. */
  committedKeys: CommittedKeys<SendResult>;
}

export interface AfterCommit {
  /**
   * Called once the commit holding `committed` is durable (never for a rolled-back one). Nothing here is
   * awaited: invariant 2 needs the durable commit before an answer, not the publish (a lost publish is
   * repaired by the store, which is the truth). `before`: events a setup appended, published first;
   * `remember`: whether the created sends' keys are kept for their retries (Ingest.committedKey).
   */
  committed(
    committed: Array<{ cmd: SendCommand; outcome: Outcome<SendOutcome> }>,
    before?: AppendedEvent[],
    options?: { remember: boolean },
  ): void;
  /** Counts a repeat answered without the store, as a repeat answered by the writer is counted. */
  countRepeat(status: 'duplicate' | 'reused', source: string): void;
  /** Resolves once every afterCommit hook queued so far has run. */
  hooksDone(): Promise<void>;
}

export function createAfterCommit({
  bus,
  metrics,
  logger,
  hooks,
  committedKeys,
}: AfterCommitOptions): AfterCommit {
  // afterCommit hooks run in commit order on a chain of their own: a slow plugin must not hold up the
  // group commit loop, and with it every sender's answer.
  let hooksDone: Promise<void> = Promise.resolve();

  async function runHooks(created: Array<{ event: WireEvent; cmd: SendCommand }>): Promise<void> {
    for (const { event, cmd } of created) {
      for (const hook of hooks) {
        try {
          await hook.afterCommit?.(event, cmd);
        } catch (err) {
          logger.error({ err, messageId: event.id }, 'afterCommit hook failed');
        }
      }
    }
  }

  function count(status: SendOutcome['status'], source: string, n = 1): void {
    if (status === 'duplicate') metrics.duplicates.of(source, { source }).inc(n);
    else (status === 'created' ? metrics.messagesCreated : metrics.idempotencyConflicts).inc({ source }, n);
  }

  return {
    committed(committed, before = [], { remember } = { remember: true }) {
      const published: BusMessage[] = before.map((a) => ({ kind: 'event', ...a }));
      const created: Array<{ event: WireEvent; cmd: SendCommand }> = [];
      const counts = new Map<string, number>();
      for (const { cmd, outcome } of committed) {
        if (!outcome.ok) continue;
        const o = outcome.value;
        const label = `${o.status}\n${cmd.source}`;
        counts.set(label, (counts.get(label) ?? 0) + 1);
        if (o.status !== 'created') continue;
        const { appId, event, pos } = o.appended;
        published.push({ kind: 'event', appId, event, pos });
        if (hooks.length > 0) created.push({ event, cmd });
        const key = cmd.idempotency;
        // Frozen, not copied: the same answer goes to the sender and to every retry until the record expires.
        if (key && remember) {
          const result = Object.freeze(o.result);
          committedKeys.remember(key, { fingerprint: key.fingerprint, result, firstSeenAt: o.firstSeenAt });
        }
      }
      for (const [label, n] of counts) {
        const [status, source] = label.split('\n') as [SendOutcome['status'], string];
        count(status, source, n);
      }
      if (published.length > 0) {
        bus.publishMany(published).catch((err: unknown) => logger.warn({ err }, 'bus publish failed'));
      }
      if (created.length > 0) hooksDone = hooksDone.then(() => runHooks(created));
    },
    countRepeat: (status, source) => count(status, source),
    hooksDone: () => hooksDone,
  };
}
