// Catch-up pages of every connection take turns on the event loop. better-sqlite3 answers synchronously,
// and a page's read and its frames hold the one thread for a few milliseconds; twenty devices resuming at
// once would otherwise run twenty pages back to back in one turn of the loop (every ready socket's
// callback, or every queued setImmediate, runs before timers and new I/O get their turn), and every other
// request would wait for all of them. Here pages run one after another, and once a turn has used its
// budget the rest wait for the next turn, so no request waits much longer than one page.

export interface CatchUpQueueOptions {
  /** Work one turn of the event loop may do before the queue yields. @defaultValue 4 */
  turnBudgetMs?: number;
}

export class CatchUpQueue {
  private readonly waiting: Array<() => Promise<void>> = [];
  private running = false;
  private readonly budgetMs: number;

  constructor(opts: CatchUpQueueOptions = {}) {
    this.budgetMs = opts.turnBudgetMs ?? 4;
  }

  /**
   * Runs `task` in its turn; resolves or rejects with it. The caller's continuation (writing the page's
   * frames) runs before the queue's next task starts, so it counts against the same turn.
   */
  run<T>(task: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.waiting.push(() => Promise.resolve().then(task).then(resolve, reject));
      if (!this.running) {
        this.running = true;
        // Never inside the caller's own turn: it may be one of many handled in this turn already.
        setImmediate(() => void this.drain());
      }
    });
  }

  private async drain(): Promise<void> {
    let turnStart = performance.now();
    for (let next = this.waiting.shift(); next; next = this.waiting.shift()) {
      await next();
      // Let the task's continuation run, still in this turn.
      await Promise.resolve();
      if (performance.now() - turnStart >= this.budgetMs && this.waiting.length > 0) {
        await new Promise((resolve) => setImmediate(resolve));
        turnStart = performance.now();
      }
    }
    this.running = false;
  }
}
