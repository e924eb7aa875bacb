// `npm run bench -- reads [--events 1000000] [--conversations 500] [--reader-in 50] [--backlog 10000]
//  [--devices 20] [--rounds 7] [--profile DIR]` (DIR receives a V8 CPU profile of the grown app's server)
// Reads whose cost must follow the reader's backlog, not the app's history. Two apps, each in its own
// oncely process: one grown to `events` events in `conversations` groups, and an empty one holding only
// the reader's backlog (the baseline, measured in the same run, rounds alternating). In both the reader
// (alice, in `reader-in` groups) missed `backlog` events; in the grown app they lie among the other groups'
// writes. Measured over HTTP: her catch-up of 10 events and of all of them (long-poll pages with the
// returned cursors), her conversation list, a history page; then `devices` devices catching up at once
// by long-poll and by WebSocket resume, with the server's event-loop delay meanwhile.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import WebSocket from 'ws';
import { CursorCodec } from '../src/realtime/cursor.js';
import { readEpoch } from '../src/store/store-epoch.js';
import { createSqliteStore } from '../src/store/sqlite/sqlite-store.js';
import { seedApp, type SeededApp } from './_reads-data.js';
import { call, cpuMs, median, startOncelyProcess, type OncelyProcess } from './_processes.js';

interface Options {
  events: number;
  conversations: number;
  readerIn: number;
  backlog: number;
  devices: number;
  rounds: number;
  profile: string | undefined;
}

function options(args: string[]): Options {
  const { values } = parseArgs({
    args,
    options: {
      events: { type: 'string', default: '1000000' },
      conversations: { type: 'string', default: '500' },
      'reader-in': { type: 'string', default: '50' },
      backlog: { type: 'string', default: '10000' },
      devices: { type: 'string', default: '20' },
      rounds: { type: 'string', default: '7' },
      profile: { type: 'string' },
    },
  });
  return {
    events: Number(values.events),
    conversations: Number(values.conversations),
    readerIn: Number(values['reader-in']),
    backlog: Number(values.backlog),
    devices: Number(values.devices),
    rounds: Number(values.rounds),
    profile: values.profile,
  };
}

interface Target {
  name: string;
  seeded: SeededApp;
  server: OncelyProcess;
  token: string;
  dir: string;
  /** Cursors of the seeded database (they carry its epoch). */
  cursors: CursorCodec;
}

async function prepare(name: string, o: Options, events: number, profile?: string): Promise<Target> {
  const dir = mkdtempSync(join(tmpdir(), `oncely-reads-${name}-`));
  const filename = join(dir, 'oncely.db');
  const started = Date.now();
  const store = createSqliteStore({ filename, durability: 'normal', optimizeIntervalMs: 0 });
  await store.migrate();
  const seeded = await seedApp(store, {
    events,
    conversations: o.conversations,
    readerIn: o.readerIn,
    backlog: o.backlog,
    awayEvents: Math.min(events, o.backlog * 10),
  });
  const cursors = new CursorCodec(await readEpoch(store.db));
  await store.close();
  console.log(`${name}: seeded in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  // The devices are all the reader's: allow them their connections.
  const env = {
    ONCELY_DATABASE_URL: `sqlite:${filename}`,
    ONCELY_MAX_CONNECTIONS_PER_USER: String(o.devices + 1),
  };
  const server = await startOncelyProcess(env, profile, {
    script: ['bench/_oncely-server.ts'],
  });
  await server.child.nextLine('the server'); // its address
  const { apiKey, reader } = seeded.layout;
  const { token } = await call<{ token: string }>(server.url, apiKey, 'POST', `/v1/users/${reader}/tokens`, {
    ttlSeconds: 3600,
  });
  return { name, seeded, server, token, dir, cursors };
}

async function timed(f: () => Promise<unknown>): Promise<number> {
  const t = performance.now();
  await f();
  return performance.now() - t;
}

/** Pages `GET /v1/sync` from `from` until a page comes back empty; returns the events received. */
async function catchUp(t: Target, from: number): Promise<number> {
  let cursor = t.cursors.encode(from);
  let received = 0;
  for (;;) {
    const page = await call<{ events: unknown[]; cursor: string }>(
      t.server.url,
      t.token,
      'GET',
      `/v1/sync?cursor=${cursor}&timeoutMs=0`,
    );
    received += page.events.length;
    cursor = page.cursor;
    if (page.events.length === 0) return received;
  }
}

/** A WebSocket device resuming from `from`; resolves when `n` events have arrived. */
function resume(t: Target, from: number, n: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${t.server.url.replace('http', 'ws')}/v1/ws?token=${t.token}`);
    let seen = 0;
    ws.on('open', () => ws.send(JSON.stringify({ type: 'resume', cursor: t.cursors.encode(from) })));
    ws.on('message', (data: Buffer) => {
      if (!data.includes('"type":"event"')) return;
      if (++seen === n) {
        ws.close();
        resolve();
      }
    });
    ws.on('error', reject);
    ws.on('close', (code) => {
      if (seen < n) reject(new Error(`${t.name}: a resume closed with ${code} after ${seen} of ${n} events`));
    });
  });
}

async function loopDelay(t: Target): Promise<{ p99: number; max: number }> {
  t.server.child.process.stdin!.write('mem\n');
  const { loop } = JSON.parse(await t.server.child.nextLine('the server')) as {
    loop: { p99: number; max: number };
  };
  return loop;
}

type Figures = Record<string, number>;

async function measure(t: Target, o: Options): Promise<Figures> {
  const { layout, backlogFrom, last10From } = t.seeded;
  const busiest = layout.conversations[layout.readerConversations[0]!]!.id;
  const many = (n: number, f: () => Promise<unknown>) =>
    (async () => {
      const times: number[] = [];
      for (let i = 0; i < n; i++) times.push(await timed(f));
      return median(times);
    })();
  const f: Figures = {};
  f['catch-up of 10 events, ms'] = await many(21, () => catchUp(t, last10From));
  // Where a catch-up's time goes: the server's CPU and this process's (the client's fetch and JSON) for it.
  const serverCpu: number[] = [];
  const clientCpu: number[] = [];
  f[`catch-up of ${o.backlog} events, ms`] = await many(3, async () => {
    const [server, client] = [cpuMs(t.server.pid), process.cpuUsage()];
    if ((await catchUp(t, backlogFrom)) !== o.backlog) throw new Error(`${t.name}: a catch-up lost events`);
    serverCpu.push(cpuMs(t.server.pid) - server);
    const used = process.cpuUsage(client);
    clientCpu.push((used.user + used.system) / 1000);
  });
  f['  server CPU, ms'] = median(serverCpu);
  f['  client CPU, ms'] = median(clientCpu);
  f['conversation list, ms'] = await many(21, () =>
    call(t.server.url, t.token, 'GET', '/v1/me/conversations'),
  );
  f['history page (newest 50), ms'] = await many(21, () =>
    call(t.server.url, t.token, 'GET', `/v1/conversations/${busiest}/messages?before=1000000000&limit=50`),
  );
  await loopDelay(t);
  f[`${o.devices} long-poll catch-ups at once, ms`] = await timed(() =>
    Promise.all(Array.from({ length: o.devices }, () => catchUp(t, backlogFrom))),
  );
  const polled = await loopDelay(t);
  f['  event-loop delay p99, ms'] = polled.p99;
  f['  event-loop delay max, ms'] = polled.max;
  f[`${o.devices} WebSocket resumes at once, ms`] = await timed(() =>
    Promise.all(Array.from({ length: o.devices }, () => resume(t, backlogFrom, o.backlog))),
  );
  const resumed = await loopDelay(t);
  f['  event-loop delay p99, ms '] = resumed.p99;
  f['  event-loop delay max, ms '] = resumed.max;
  return f;
}

export default async function reads(args: string[]): Promise<void> {
  const o = options(args);
  console.log(
    `reads: an app of ${o.events} events in ${o.conversations} groups against an empty one; alice is in ` +
      `${o.readerIn} groups and missed ${o.backlog} events; ${o.devices} devices; ${o.rounds} rounds`,
  );
  const targets: Target[] = [];
  try {
    targets.push(await prepare('empty', o, 0));
    targets.push(await prepare('grown', o, o.events, o.profile));
    const results = new Map<string, Figures[]>(targets.map((t) => [t.name, []]));
    for (let round = 0; round < o.rounds; round++) {
      for (const t of round % 2 === 0 ? targets : [...targets].reverse())
        results.get(t.name)!.push(await measure(t, o));
      process.stdout.write(`round ${round + 1} of ${o.rounds} done\n`);
    }
    const medianOf = (name: string, key: string) => median(results.get(name)!.map((r) => r[key]!));
    console.log(
      `\n${'median of the rounds'.padEnd(40)} ${'empty app'.padStart(10)} ${'grown app'.padStart(10)}  ratio`,
    );
    for (const key of Object.keys(results.get('empty')![0]!)) {
      const [e, g] = [medianOf('empty', key), medianOf('grown', key)];
      console.log(
        `${key.padEnd(40)} ${e.toFixed(1).padStart(10)} ${g.toFixed(1).padStart(10)}  ${(g / e).toFixed(2)}`,
      );
    }
  } finally {
    for (const t of targets) {
      await t.server.stop();
      rmSync(t.dir, { recursive: true, force: true });
    }
  }
}
