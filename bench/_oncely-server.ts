// oncely for `bench/fanout.ts`, in its own process: the real server (startOncely, configured from the
// environment) plus a stdin command `mem` that collects garbage and prints heap and RSS, so memory per
// connection is measured rather than guessed from a noisy RSS.
import { createInterface } from 'node:readline';
import { loadConfig } from '../src/config.js';
import { startOncely } from '../src/main.js';

const oncely = await startOncely(loadConfig());
process.stdout.write(`${JSON.stringify({ url: oncely.url })}\n`);
createInterface({ input: process.stdin }).on('line', (line) => {
  if (line !== 'mem') return;
  (globalThis as { gc?: () => void }).gc?.();
  const m = process.memoryUsage();
  process.stdout.write(`${JSON.stringify({ heap: m.heapUsed + m.external + m.arrayBuffers, rss: m.rss })}\n`);
});
process.on('SIGTERM', () => void oncely.close().then(() => process.exit(0)));
