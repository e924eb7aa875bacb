// One run of a costly task shared by every caller that arrived while the previous run was under way: the
// WAL flush of SQLite, the VACUUM of PostgreSQL's recall scrub.

/**
 * Returns a function whose promise resolves after a run of `task` that started after the call: a call made
 * while a run is under way waits for it and then for one more run, which all such callers share.
 */
export function coalesced(task: () => Promise<void>): { run(): Promise<void>; settled(): Promise<void> } {
  let running: Promise<void> | undefined;
  let next: Promise<void> | undefined;
  function start(): Promise<void> {
    const current = task().finally(() => {
      if (running === current) running = undefined;
    });
    running = current;
    return current;
  }
  return {
    run() {
      if (!running) return start();
      next ??= running
        .catch(() => undefined)
        .then(() => {
          next = undefined;
          return start();
        });
      return next;
    },
    async settled() {
      await Promise.allSettled([running, next]);
    },
  };
}
