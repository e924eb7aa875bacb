// The ceiling of `bench/webhooks.ts`: a plain HTTP client loop (undici, keep-alive, `concurrency` requests in
// flight) POSTing webhook-sized signed-looking bodies to the same receiver. Args: url, count, concurrency, bytes.
// Prints {requests, seconds, cpuMs} (cpuMs: this process's CPU, all threads, while the loop ran).
import { performance } from 'node:perf_hooks';
import { Agent, request } from 'undici';

const [url, countArg, concurrencyArg, bytesArg] = process.argv.slice(2);
const count = Number(countArg);
const concurrency = Number(concurrencyArg);
const body = JSON.stringify({
  type: 'message.created',
  timestamp: new Date().toISOString(),
  data: { pad: 'x'.repeat(Number(bytesArg)) },
});
const agent = new Agent({ keepAliveTimeout: 4000 });
let next = 0;
const started = performance.now();
const cpuBefore = process.cpuUsage();
await Promise.all(
  Array.from({ length: concurrency }, async () => {
    while (next < count) {
      const i = next++;
      const res = await request(url!, {
        method: 'POST',
        dispatcher: agent,
        body,
        headers: {
          'content-type': 'application/json',
          'webhook-id': `loop-${i}`,
          'webhook-timestamp': String(Math.floor(Date.now() / 1000)),
          'webhook-signature': 'v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=',
        },
      });
      await res.body.dump();
    }
  }),
);
const seconds = (performance.now() - started) / 1000;
const cpu = process.cpuUsage(cpuBefore);
process.stdout.write(
  `${JSON.stringify({ requests: count, seconds, cpuMs: (cpu.user + cpu.system) / 1000 })}\n`,
);
await agent.close();
