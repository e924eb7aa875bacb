// WAL checkpoints on a thread of their own. SQLite's automatic checkpoint runs inside the COMMIT that crosses
// the threshold: it copies the WAL into the database file and syncs both, stalling the event loop (and every
// request) for milliseconds every few group commits. Here a worker thread with its own connection does it
// instead: a PASSIVE checkpoint never blocks the writer, and the WAL restarts from its beginning once a
// checkpoint has caught up.
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

export interface CheckpointerOptions {
  filename: string;
  /** How often a checkpoint runs (one with nothing to copy costs the thread a few microseconds). @defaultValue 100 ms */
  intervalMs?: number;
}

export const checkpointerDefaults = { intervalMs: 100 };

export interface Checkpointer {
  /** Stops the thread after a last checkpoint; the caller then closes its own connection. */
  close(): Promise<void>;
}

// CommonJS, evaluated in the worker: no TypeScript loader is needed there.
const workerSource = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.filename);
db.pragma('busy_timeout = 5000');
parentPort.on('message', (message) => {
  try {
    db.pragma('wal_checkpoint(PASSIVE)');
    parentPort.postMessage({ ok: true });
  } catch (err) {
    parentPort.postMessage({ ok: false, error: String(err && err.message || err) });
  }
  if (message === 'close') {
    db.close();
    parentPort.close();
  }
});
`;

export function createCheckpointer(
  options: CheckpointerOptions,
  onError: (message: string) => void,
): Checkpointer {
  const driver = createRequire(import.meta.url).resolve('better-sqlite3');
  const worker = new Worker(workerSource, { eval: true, workerData: { driver, filename: options.filename } });
  // The thread never keeps the process alive on its own.
  worker.unref();
  let running = false;
  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
  worker.on('message', (reply: { ok: boolean; error?: string }) => {
    running = false;
    if (!reply.ok) onError(reply.error ?? 'checkpoint failed');
  });
  worker.on('error', (err) => onError(err.message));
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    worker.postMessage('checkpoint');
  }, options.intervalMs ?? checkpointerDefaults.intervalMs);
  timer.unref();
  return {
    async close() {
      clearInterval(timer);
      // Held open until the thread has finished its last checkpoint and closed its connection.
      worker.ref();
      worker.postMessage('close');
      await exited;
    },
  };
}
