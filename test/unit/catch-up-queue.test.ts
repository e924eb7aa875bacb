// The queue that makes catch-up pages take turns on the event loop.
import { describe, expect, it } from 'vitest';
import { CatchUpQueue } from '../../src/realtime/catch-up-queue.js';

/** Holds the thread like a synchronous query does. */
function busy(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until);
}

describe('CatchUpQueue', () => {
  it('runs tasks one at a time, in order, and yields to timers once a turn used its budget', async () => {
    const queue = new CatchUpQueue({ turnBudgetMs: 4 });
    const done: number[] = [];
    let doneWhenTimerRan = -1;
    setTimeout(() => (doneWhenTimerRan = done.length), 0);
    let running = 0;
    await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        queue.run(async () => {
          expect(++running).toBe(1);
          busy(3);
          running--;
          done.push(i);
        }),
      ),
    );
    expect(done).toEqual(Array.from({ length: 12 }, (_, i) => i));
    // Two 3 ms tasks pass the 4 ms budget: the timer ran long before the last task.
    expect(doneWhenTimerRan).toBeGreaterThanOrEqual(0);
    expect(doneWhenTimerRan).toBeLessThanOrEqual(4);
  });

  it("passes a task's failure to its caller and goes on with the next", async () => {
    const queue = new CatchUpQueue();
    const failed = queue.run(() => {
      throw new Error('store down');
    });
    const next = queue.run(async () => 'ok');
    await expect(failed).rejects.toThrow('store down');
    await expect(next).resolves.toBe('ok');
  });
});
