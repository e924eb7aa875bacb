// The clients of `bench/fanout.ts`, in their own process: K raw WebSockets (the `ws` library, for oncely and
// for Socket.IO's engine.io protocol alike, so both sides pay the same client cost), one sender per group
// sending at a fixed total rate. Reads a FanoutPlan from the JSON file named by argv[2]; prints `{"connected":…}` once every socket
// is ready and the connects' presence frames have passed, waits for a line on stdin, runs, and prints the
// FanoutResult.
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import WebSocket from 'ws';

export interface FanoutPlan {
  kind: 'oncely' | 'socketio';
  url: string;
  /**
   * One entry per client: its group (conversation id or room), for oncely its token, and the server it
   * connects to when not `url` (several instances).
   */
  clients: Array<{ group: string; token?: string; sender: boolean; url?: string | undefined }>;
  /** Messages per second, all groups together. */
  rate: number;
  seconds: number;
  /** How long to wait after the last send for deliveries still in flight. */
  drainMs: number;
}

export interface FanoutResult {
  sent: number;
  deliveries: number;
  expected: number;
  seconds: number;
  p50: number;
  p99: number;
  max: number;
  errors: number;
}

const plan = JSON.parse(readFileSync(process.argv[2]!, 'utf8')) as FanoutPlan;
const latencies: number[] = [];
let errors = 0;
let lastDelivery = 0;
/** When a frame other than an event last came (presence, after the connects). */
let lastOther = 0;

/** The send timestamp of a delivered message, read without parsing the whole frame. */
function stamp(text: string): number | undefined {
  const i = text.indexOf('"t":');
  if (i < 0) return undefined;
  return parseFloat(text.slice(i + 4, i + 30));
}

function record(text: string): void {
  const t = stamp(text);
  if (t === undefined) return;
  const now = performance.now();
  latencies.push(now - t);
  lastDelivery = now;
}

function openOncely(c: FanoutPlan['clients'][number]): Promise<WebSocket> {
  const ws = new WebSocket(`${(c.url ?? plan.url).replace(/^http/, 'ws')}/v1/ws?token=${c.token}`, {
    perMessageDeflate: false,
  });
  return new Promise((resolve, reject) => {
    ws.on('open', () => ws.send('{"type":"ping"}'));
    ws.on('message', (data) => {
      const text = data.toString();
      if (text.startsWith('{"type":"event"')) record(text);
      else if (text.startsWith('{"type":"ready"')) resolve(ws);
      else if (text.startsWith('{"type":"error"')) errors++;
      else lastOther = performance.now();
    });
    ws.on('error', reject);
    ws.on('close', () => errors++);
  });
}

function openSocketIo(c: FanoutPlan['clients'][number]): Promise<WebSocket> {
  const url = `${plan.url.replace(/^http/, 'ws')}/socket.io/?EIO=4&transport=websocket&room=${encodeURIComponent(c.group)}`;
  const ws = new WebSocket(url, { perMessageDeflate: false });
  return new Promise((resolve, reject) => {
    ws.on('message', (data) => {
      const text = data.toString();
      if (text.startsWith('42')) record(text);
      else if (text === '2')
        ws.send('3'); // engine.io ping → pong
      else if (text.startsWith('0'))
        ws.send('40'); // engine.io open → connect to the default namespace
      else if (text.startsWith('40')) resolve(ws);
    });
    ws.on('error', reject);
    ws.on('close', () => errors++);
  });
}

function sendFrame(ws: WebSocket, group: string, n: number): void {
  const t = performance.now();
  if (plan.kind === 'oncely') {
    ws.send(
      `{"type":"send","clientMsgId":"b${process.pid}-${n}","conversationId":"${group}","body":{"type":"custom","data":{"t":${t}}}}`,
    );
  } else {
    ws.send(`42["send",{"room":"${group}","t":${t}}]`);
  }
}

const sockets: WebSocket[] = [];
const open = plan.kind === 'oncely' ? openOncely : openSocketIo;
// Connect in waves, so the server's accept backlog is never the thing measured.
for (let i = 0; i < plan.clients.length; i += 100) {
  sockets.push(...(await Promise.all(plan.clients.slice(i, i + 100).map(open))));
}
const senders = plan.clients.flatMap((c, i) => (c.sender ? [{ ws: sockets[i]!, group: c.group }] : []));
const groupSize = new Map<string, number>();
for (const c of plan.clients) groupSize.set(c.group, (groupSize.get(c.group) ?? 0) + 1);
// The connects' own traffic (each user coming online is news to its group's members) passes before the
// messages start: 1 s without any such frame, at most 20 s. What is measured is the fan-out of messages.
const connected = performance.now();
while (performance.now() - Math.max(lastOther, connected) < 1000 && performance.now() - connected < 20_000)
  await new Promise((r) => setTimeout(r, 50));
const settledMs = Math.round(performance.now() - connected);
process.stdout.write(`${JSON.stringify({ connected: sockets.length, settledMs })}\n`);
await new Promise<void>((resolve) => createInterface({ input: process.stdin }).once('line', () => resolve()));

// Open loop: every 10 ms, send what the rate owes by now, round-robin over the groups.
const start = performance.now();
let sent = 0;
let expected = 0;
await new Promise<void>((resolve) => {
  const tick = setInterval(() => {
    const elapsed = performance.now() - start;
    const owed = Math.min(Math.floor((elapsed / 1000) * plan.rate), Math.floor(plan.seconds * plan.rate));
    while (sent < owed) {
      const s = senders[sent % senders.length]!;
      sendFrame(s.ws, s.group, sent);
      expected += groupSize.get(s.group)!;
      sent++;
    }
    if (elapsed >= plan.seconds * 1000) {
      clearInterval(tick);
      resolve();
    }
  }, 10);
});
const drainUntil = performance.now() + plan.drainMs;
while (latencies.length < expected && performance.now() < drainUntil)
  await new Promise((r) => setTimeout(r, 20));

const sorted = Float64Array.from(latencies).sort();
const at = (q: number) =>
  Math.round((sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0) * 10) / 10;
const result: FanoutResult = {
  sent,
  deliveries: latencies.length,
  expected,
  seconds: ((lastDelivery || performance.now()) - start) / 1000,
  p50: at(0.5),
  p99: at(0.99),
  max: at(1),
  errors,
};
process.stdout.write(`${JSON.stringify(result)}\n`);
for (const ws of sockets) ws.terminate();
process.exit(0);
