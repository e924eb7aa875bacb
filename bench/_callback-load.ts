// The load generator of `bench/callbacks.ts`, in its own process: signs every callback up front with the
// standardwebhooks package (repeats are the very same request again, as a retrying sender sends them),
// runs autocannon, prints the result as JSON.
import autocannon from 'autocannon';
import { Webhook } from 'standardwebhooks';

export interface CallbackPlan {
  url: string;
  path: string;
  secret: string;
  connections: number;
  /** How many callbacks to send; a `repeat` share of them are retries of earlier ones (msgIds `prefix-n`). */
  prefix: string;
  count: number;
  repeat: number;
  /** User pairs the callbacks go between. */
  pairs: Array<[string, string]>;
}

export interface CallbackLoadResult {
  requests: number;
  seconds: number;
  p50: number;
  p99: number;
  statuses: Record<string, number>;
  /** Distinct msgIds among the callbacks sent. */
  distinct: number;
}

const plan = JSON.parse(process.argv[2]!) as CallbackPlan;
// The plan is made here rather than passed in: argv cannot carry tens of thousands of ids.
const msgIds: string[] = [];
let distinct = 0;
for (let i = 0; i < plan.count; i++) {
  if (distinct > 0 && Math.random() < plan.repeat)
    msgIds.push(`${plan.prefix}-${Math.floor(Math.random() * distinct)}`);
  else msgIds.push(`${plan.prefix}-${distinct++}`);
}
const hook = new Webhook(plan.secret);
const signed = new Map<string, { headers: Record<string, string>; body: string }>();
const now = new Date();
for (const [i, msgId] of msgIds.entries()) {
  if (signed.has(msgId)) continue;
  const [from, to] = plan.pairs[i % plan.pairs.length]!;
  const body = JSON.stringify({ msgId, from, to, timestamp: now.getTime(), content: `callback ${msgId}` });
  const id = `wh_${msgId}`;
  signed.set(msgId, {
    body,
    headers: {
      'content-type': 'application/json',
      'webhook-id': id,
      'webhook-timestamp': String(Math.floor(now.getTime() / 1000)),
      'webhook-signature': hook.sign(id, now, body),
    },
  });
}
const prepared = msgIds.map((m) => ({ method: 'POST' as const, path: plan.path, ...signed.get(m)! }));
let next = 0;
const statuses: Record<string, number> = {};
// Timed here: autocannon's own start/finish are rounded to its once-a-second tick.
const startedAt = performance.now();
let lastAt = startedAt;

const result = await autocannon({
  url: plan.url,
  connections: plan.connections,
  amount: prepared.length,
  timeout: 30,
  requests: [
    {
      setupRequest: (req) => Object.assign(req, prepared[next++ % prepared.length]),
      onResponse: (status) => {
        statuses[status] = (statuses[status] ?? 0) + 1;
        lastAt = performance.now();
      },
    },
  ],
});
const out: CallbackLoadResult = {
  requests: result.requests.total,
  seconds: (lastAt - startedAt) / 1000,
  p50: result.latency.p50,
  p99: result.latency.p99,
  statuses,
  distinct,
};
process.stdout.write(`${JSON.stringify(out)}\n`);
