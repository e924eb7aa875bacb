// The clients of `bench/presence.ts`, in their own process: one WebSocket per user for the first `connected`
// users; the others wait offline in a queue. During the run every tick closes a few random connected users'
// sockets (they join the end of the queue) and connects as many from its head, so connects and disconnects
// together happen at `churn` per second, the number connected stays put, and an offline user stays offline
// for (queue length / connects per second) seconds before coming back.
// Counts the presence frames every socket receives. Reads a PresencePlan from the JSON file named by argv[2];
// prints `{"connected":n}` once every socket is ready, then runs a period for each `go` line on stdin and
// prints its result.
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import WebSocket from 'ws';

export interface PresencePlan {
  url: string;
  /** Every user's token; the first `connected` are connected at the start. */
  tokens: string[];
  connected: number;
  /** Connects plus disconnects per second. */
  churn: number;
  seconds: number;
}

export interface PresenceResult {
  seconds: number;
  connects: number;
  disconnects: number;
  /** Presence frames received by all the sockets during the run. */
  presenceFrames: number;
  /** Connects that had not said `ready` when the run ended, or failed. */
  errors: number;
}

const plan = JSON.parse(readFileSync(process.argv[2]!, 'utf8')) as PresencePlan;
const tickMs = 50;
let presenceFrames = 0;
let counting = false;

/** Opens one user's socket; resolves once the server said `ready`. */
function open(token: string): Promise<WebSocket> {
  const ws = new WebSocket(`${plan.url.replace(/^http/, 'ws')}/v1/ws?token=${token}`, {
    perMessageDeflate: false,
  });
  return new Promise((resolve, reject) => {
    ws.on('open', () => ws.send('{"type":"ping"}'));
    ws.on('message', (data) => {
      const text = data.toString();
      if (text.startsWith('{"type":"presence"')) {
        if (counting) presenceFrames++;
      } else if (text.startsWith('{"type":"ready"')) resolve(ws);
    });
    ws.on('error', reject);
    ws.on('close', (code) => reject(new Error(`closed ${code} before ready`)));
  });
}

const sockets: Array<WebSocket | undefined> = new Array(plan.tokens.length);
const connectedNow: number[] = Array.from({ length: plan.connected }, (_, i) => i);
const offline: number[] = Array.from(
  { length: plan.tokens.length - plan.connected },
  (_, i) => plan.connected + i,
);
let next = 0;
await Promise.all(
  Array.from({ length: 50 }, async () => {
    while (next < plan.connected) {
      const i = next++;
      sockets[i] = await open(plan.tokens[i]!);
    }
  }),
);
process.stdout.write(`${JSON.stringify({ connected: plan.connected })}\n`);

// Each tick: `perTick` random connected users disconnect and `perTick` from the head of the queue connect.
const perTick = Math.max(1, Math.round((plan.churn / 2) * (tickMs / 1000)));
const inFlight = new Set<Promise<void>>();

/** One period of churn; the connects still unfinished at its end are waited for (briefly), then counted. */
async function period(): Promise<PresenceResult> {
  let connects = 0;
  let disconnects = 0;
  let errors = 0;
  presenceFrames = 0;
  counting = true;
  const started = performance.now();
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      if (performance.now() - started >= plan.seconds * 1000) {
        clearInterval(timer);
        return resolve();
      }
      for (let k = 0; k < perTick && connectedNow.length > 0; k++) {
        const at = Math.floor(Math.random() * connectedNow.length);
        const i = connectedNow[at]!;
        connectedNow[at] = connectedNow[connectedNow.length - 1]!;
        connectedNow.pop();
        sockets[i]!.close();
        sockets[i] = undefined;
        disconnects++;
        offline.push(i);
      }
      for (let k = 0; k < perTick && offline.length > 0; k++) {
        const i = offline.shift()!;
        const p = open(plan.tokens[i]!).then(
          (ws) => {
            sockets[i] = ws;
            connectedNow.push(i);
            connects++;
          },
          () => {
            errors++;
            offline.push(i);
          },
        );
        inFlight.add(p);
        void p.finally(() => inFlight.delete(p));
      }
    }, tickMs);
  });
  const seconds = (performance.now() - started) / 1000;
  counting = false;
  await Promise.race([Promise.all(inFlight), new Promise((r) => setTimeout(r, 2_000))]);
  errors += inFlight.size;
  return { seconds, connects, disconnects, presenceFrames, errors };
}

// A period per `go` line, its result on a line; the process ends with its stdin.
for await (const line of createInterface({ input: process.stdin })) {
  if (line !== 'go') continue;
  process.stdout.write(`${JSON.stringify(await period())}\n`);
}
for (const ws of sockets) ws?.terminate();
process.exit(0);
