// The load generator of `bench/callbacks.ts`, in its own process: signs every callback up front with the
// standardwebhooks package (repeats are the very same request again, as a retrying sender sends them),
// runs autocannon, prints the result as JSON.
import { Webhook } from 'standardwebhooks';
import { runPreparedLoad, type LoadResult } from './_prepared-load.js';

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

export interface CallbackLoadResult extends LoadResult {
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
const out: CallbackLoadResult = {
  ...(await runPreparedLoad(plan.url, plan.connections, prepared)),
  distinct,
};
process.stdout.write(`${JSON.stringify(out)}\n`);
