// oncely for `bench/fanout.ts`, in its own process: the real server (startOncely, configured from the
// environment) plus a stdin command `mem` that collects garbage and prints heap and RSS, so memory per
// connection is measured rather than guessed from a noisy RSS.
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { loadConfig } from '../src/config.js';
import { startOncely } from '../src/main.js';

const oncely = await startOncely(loadConfig());
// How long work waits for the one event-loop thread: the part of latency that is the server being busy.
const loopDelay = monitorEventLoopDelay({ resolution: 5 });
loopDelay.enable();
process.stdout.write(`${JSON.stringify({ url: oncely.url })}\n`);
createInterface({ input: process.stdin }).on('line', (line) => {
  if (line !== 'mem') return;
  (globalThis as { gc?: () => void }).gc?.();
  const m = process.memoryUsage();
  const loop = {
    p50: loopDelay.percentile(50) / 1e6,
    p99: loopDelay.percentile(99) / 1e6,
    max: loopDelay.max / 1e6,
  };
  loopDelay.reset();
  process.stdout.write(
    `${JSON.stringify({ heap: m.heapUsed + m.external + m.arrayBuffers, rss: m.rss, loop })}\n`,
  );
});
process.on('SIGTERM', () => void oncely.close().then(() => process.exit(0)));
