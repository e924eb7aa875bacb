// A store that cannot write (a full disk, a file-size limit, a failing device) while it still reads: sends
// answer 503 `store_unavailable`, readiness fails until the store has room again, and the cause is logged
// once per incident — not once per refused request, and never hidden behind a later error of the rollback.
import { randomBytes } from 'node:crypto';
import { storeUnavailable, type OncelyError } from '../errors.js';
import type { Logger } from '../observability/logger.js';
import type { Tx } from './store.js';

export interface WriteOutage {
  /** Whether a write failed for lack of room (or a failing device) and no probe has written since. */
  readonly failing: boolean;
  /** Records a failed write; the first of an incident is logged with its cause. The error to throw. */
  failed(cause: unknown): OncelyError;
  /**
   * Readiness during an incident: runs `write` (at most once a second; in between the last failure stands),
   * and ends the incident when it goes through. Rejects while the store still cannot write.
   */
  probe(write: () => Promise<void>): Promise<void>;
}

/** How often readiness may try a probe write during an incident (each writes `probeBytes`). */
const probeEveryMs = 1000;

export function createWriteOutage(logger: Logger | undefined): WriteOutage {
  let since: number | undefined;
  let lastError: OncelyError | undefined;
  let lastProbe = 0;
  const report = (level: 'error' | 'info', fields: object, message: string) =>
    logger ? logger[level](fields, message) : process.emitWarning(message);

  const outage: WriteOutage = {
    get failing() {
      return since !== undefined;
    },
    failed(cause) {
      const reason = cause instanceof Error ? cause.message : String(cause);
      if (since === undefined) {
        since = Date.now();
        report(
          'error',
          { cause: reason, code: (cause as { code?: unknown }).code },
          'the database cannot write (disk full?): writes answer 503 store_unavailable, and /readyz fails until the store has room again',
        );
      }
      lastError = storeUnavailable(`the database cannot write: ${reason}`, cause);
      return lastError;
    },
    async probe(write) {
      if (since === undefined) return;
      if (Date.now() - lastProbe < probeEveryMs && lastError) throw lastError;
      lastProbe = Date.now();
      await write();
      report('info', { outageMs: Date.now() - since }, 'the database writes again');
      since = undefined;
    },
  };
  return outage;
}

/**
 * Room the probe asks for: more than any one send, so that "ready" means sends fit again — a small write may
 * fit in space the database or its log holds already while larger ones still fail.
 */
const probeBytes = 1024 * 1024;

/** The write readiness tries during an incident: one row rewritten with `probeBytes` of incompressible text. */
export async function probeWrite(tx: Tx, now: number): Promise<void> {
  const filler = randomBytes((probeBytes * 3) / 4).toString('base64');
  await tx
    .insertInto('write_probe')
    .values({ id: 1, filler, written_at: now })
    .onConflict((oc) => oc.column('id').doUpdateSet({ filler, written_at: now }))
    .execute();
}
