// Event-loop delay as a metric. The server runs on one thread and better-sqlite3 answers synchronously, so
// any long piece of work (a large read, a large JSON) makes every other request, socket write and timer
// wait; how late a short timer fires measures that wait directly.
import type { Histogram } from 'prom-client';

export interface EventLoopMonitorOptions {
  /** Receives each sample, in seconds. */
  histogram: Histogram;
  /** How often the timer is set. @defaultValue 10 */
  intervalMs?: number;
}

export interface EventLoopMonitor {
  close(): void;
}

/**
 * Samples the delay with a chain of timers: each records how much later than asked it ran. A stall of
 * 50 ms shows as one sample of about 50 ms, so the histogram's upper quantiles are the stalls requests met.
 */
export function monitorEventLoop({ histogram, intervalMs = 10 }: EventLoopMonitorOptions): EventLoopMonitor {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const schedule = () => {
    const due = performance.now() + intervalMs;
    timer = setTimeout(() => {
      histogram.observe(Math.max(0, performance.now() - due) / 1000);
      schedule();
    }, intervalMs);
    // The monitor alone never keeps the process alive.
    timer.unref();
  };
  schedule();
  return {
    close() {
      clearTimeout(timer);
      timer = undefined;
    },
  };
}
