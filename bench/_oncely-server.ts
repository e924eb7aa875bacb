// oncely for `bench/fanout.ts`, in its own process: the real server (startOncely, configured from the
// environment) plus a stdin command `mem` that collects garbage and prints heap and RSS, so memory per
// connection is measured rather than guessed from a noisy RSS.
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { loadConfig } from '../src/config.js';
import { startOncely } from '../src/main.js';

const oncely = await startOncely(loadConfig());
// How long work waits for the one event-loop thread: the part of latency that is the server being busy.
// The histogram's samples are the whole interval between runs of its timer, the timer's own resolution
// included (an idle loop reads 5 ms at every percentile): the delay is what lies beyond it.
const resolutionMs = 5;
const loopDelay = monitorEventLoopDelay({ resolution: resolutionMs });
const delayMs = (ns: number) => Math.max(0, ns / 1e6 - resolutionMs);
loopDelay.enable();
process.stdout.write(`${JSON.stringify({ url: oncely.url })}\n`);
createInterface({ input: process.stdin }).on('line', (line) => {
  if (line !== 'mem') return;
  (globalThis as { gc?: () => void }).gc?.();
  const m = process.memoryUsage();
  const loop = {
    p50: delayMs(loopDelay.percentile(50)),
    p99: delayMs(loopDelay.percentile(99)),
    max: delayMs(loopDelay.max),
  };
  loopDelay.reset();
  process.stdout.write(
    `${JSON.stringify({ heap: m.heapUsed + m.external + m.arrayBuffers, rss: m.rss, loop })}\n`,
  );
});
process.on('SIGTERM', () => void oncely.close().then(() => process.exit(0)));
