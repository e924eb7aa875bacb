// Runs a list of prepared requests through autocannon and times them to the last answer. Shared by the load
// generators (`_load.ts`, `_callback-load.ts`), which run in their own processes.
import autocannon from 'autocannon';

export interface PreparedRequest {
  method: 'POST';
  path: string;
  headers: Record<string, string>;
  body: string;
}

export interface LoadResult {
  requests: number;
  seconds: number;
  p50: number;
  p99: number;
  statuses: Record<string, number>;
}

/** The conversation (index among `n`) a key's sends go to: every repeat of a key goes where the first went. */
export function conversationOf(key: string, n: number): number {
  let h = 0;
  for (let i = 0; i < key.length; i++) h = (h * 31 + key.charCodeAt(i)) | 0;
  return Math.abs(h) % n;
}

export async function runPreparedLoad(
  url: string,
  connections: number,
  prepared: PreparedRequest[],
): Promise<LoadResult> {
  let next = 0;
  const statuses: Record<string, number> = {};
  // Timed here, from the start to the last answer: autocannon's own start/finish are whole-second ticks.
  const startedAt = performance.now();
  let lastAnswerAt = startedAt;
  const result = await autocannon({
    url,
    connections,
    amount: prepared.length,
    timeout: 30,
    requests: [
      {
        setupRequest: (req) => Object.assign(req, prepared[next++ % prepared.length]),
        onResponse: (status) => {
          statuses[status] = (statuses[status] ?? 0) + 1;
          lastAnswerAt = performance.now();
        },
      },
    ],
  });
  return {
    requests: result.requests.total,
    seconds: (lastAnswerAt - startedAt) / 1000,
    p50: result.latency.p50,
    p99: result.latency.p99,
    statuses,
  };
}
