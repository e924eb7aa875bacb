// The load generator of `bench/ingest.ts`, in its own process so that it never shares an event loop with
// the server it measures. Reads a LoadPlan from the JSON file named by argv[2], runs autocannon, prints the result as JSON.
import { readFileSync } from 'node:fs';
import { conversationOf, runPreparedLoad, type LoadResult } from './_prepared-load.js';

export type { LoadResult };

export interface LoadPlan {
  url: string;
  apiKey: string;
  connections: number;
  /** Keys in send order; a key that occurs twice is a repeat (same body, same conversation). */
  keys: string[];
  /**
   * The conversation each distinct key goes to, and its sender. With a `token` (a user token of the sender)
   * the request is the user's own send; without, the app's (`apiKey`, with `from`).
   */
  conversations: Array<{ id: string; from: string; token?: string }>;
}

const plan = JSON.parse(readFileSync(process.argv[2]!, 'utf8')) as LoadPlan;
// Requests are prepared up front, so the generator spends its time on the wire, not on building bodies.
const prepared = plan.keys.map((key) => {
  const conv = plan.conversations[conversationOf(key, plan.conversations.length)]!;
  return {
    method: 'POST' as const,
    path: `/v1/conversations/${conv.id}/messages`,
    headers: {
      'content-type': 'application/json',
      authorization: `Bearer ${conv.token ?? plan.apiKey}`,
      'idempotency-key': key,
    },
    // A 60-byte text, as a short chat message.
    body: JSON.stringify({
      ...(conv.token ? {} : { from: conv.from }),
      body: { type: 'text', text: `message ${key}`.padEnd(60, '.') },
    }),
  };
});
const out = await runPreparedLoad(plan.url, plan.connections, prepared);
process.stdout.write(`${JSON.stringify(out)}\n`);
