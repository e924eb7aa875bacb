// `npm run bench -- reads-growth [--others 200000] [--baseline-others 2000] [--backlog 10000] [--groups 50]
//  [--rounds 7]`
// A small conversation's catch-up while the app around it grows. alice is in one small group; she missed
// `backlog` + 10 of its messages, and after them the app's other users wrote `others` messages in `groups`
// groups she is not in (dave is in all of them and has read none). Two oncely processes, rounds alternating:
// the grown app, and a baseline app that is the same with `baseline-others` messages in the busy groups.
// Measured over HTTP: alice's catch-up of her last 10 events (one `GET /v1/sync`), of all `backlog` + 10
// (paging with the returned cursors), and dave's conversation list with its unread counts.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { CursorCodec } from '../src/realtime/cursor.js';
import { createSqliteStore } from '../src/store/sqlite/sqlite-store.js';
import { readEpoch } from '../src/store/store-epoch.js';
import { appendMessages, createGroups, head, random, type Append } from './_reads-data.js';
import { call, median, startOncelyProcess, type OncelyProcess } from './_processes.js';

interface Options {
  others: number;
  baselineOthers: number;
  backlog: number;
  groups: number;
  rounds: number;
}

function options(args: string[]): Options {
  const { values } = parseArgs({
    args,
    options: {
      others: { type: 'string', default: '200000' },
      'baseline-others': { type: 'string', default: '2000' },
      backlog: { type: 'string', default: '10000' },
      groups: { type: 'string', default: '50' },
      rounds: { type: 'string', default: '7' },
    },
  });
  return {
    others: Number(values.others),
    baselineOthers: Number(values['baseline-others']),
    backlog: Number(values.backlog),
    groups: Number(values.groups),
    rounds: Number(values.rounds),
  };
}

interface Target {
  name: string;
  server: OncelyProcess;
  dir: string;
  alice: string;
  dave: string;
  /** Cursors after which alice has `backlog` + 10 and 10 events left. */
  backlogFrom: string;
  last10From: string;
}

async function prepare(name: string, o: Options, others: number): Promise<Target> {
  const dir = mkdtempSync(join(tmpdir(), `oncely-reads-growth-${name}-`));
  const filename = join(dir, 'oncely.db');
  const store = createSqliteStore({ filename, durability: 'normal', optimizeIntervalMs: 0 });
  await store.migrate();
  const users = ['alice', 'bob', 'carol', 'dave', ...Array.from({ length: 200 }, (_, i) => `u${i}`)];
  const busy = Array.from({ length: o.groups }, (_, i) => [
    'dave',
    ...Array.from({ length: 4 }, (_, k) => `u${(i * 7 + k * 13) % 200}`),
  ]);
  const layout = await createGroups(store, 'alice', users, [['alice', 'bob', 'carol'], ...busy]);
  const rnd = random(others);
  const small = (n: number) =>
    Array.from({ length: n }, (): Append => ({ conversation: 0, sender: rnd() < 0.5 ? 'bob' : 'carol' }));
  const backlogFrom = await head(store);
  await appendMessages(store, layout, small(o.backlog));
  const last10From = await head(store);
  await appendMessages(store, layout, small(10));
  function* busyWrites(): Iterable<Append> {
    for (let i = 0; i < others; i++) {
      const conversation = 1 + Math.floor(rnd() * o.groups);
      const members = layout.conversations[conversation]!.members.filter((m) => m !== 'dave');
      yield { conversation, sender: members[Math.floor(rnd() * members.length)]! };
    }
  }
  await appendMessages(store, layout, busyWrites());
  const cursors = new CursorCodec(await readEpoch(store.db));
  await store.close();
  const server = await startOncelyProcess({ ONCELY_DATABASE_URL: `sqlite:${filename}` }, undefined, {
    script: ['bench/_oncely-server.ts'],
  });
  await server.child.nextLine('the server'); // its address
  const token = async (user: string) =>
    (
      await call<{ token: string }>(server.url, layout.apiKey, 'POST', `/v1/users/${user}/tokens`, {
        ttlSeconds: 3600,
      })
    ).token;
  return {
    name,
    server,
    dir,
    alice: await token('alice'),
    dave: await token('dave'),
    backlogFrom: cursors.encode(backlogFrom),
    last10From: cursors.encode(last10From),
  };
}

async function timed(f: () => Promise<unknown>): Promise<number> {
  const t = performance.now();
  await f();
  return performance.now() - t;
}

type SyncPage = { events: unknown[]; cursor: string };

async function measure(t: Target, o: Options): Promise<Record<string, number>> {
  const sync = (cursor: string) =>
    call<SyncPage>(t.server.url, t.alice, 'GET', `/v1/sync?cursor=${cursor}&timeoutMs=0`);
  const five = async (f: () => Promise<unknown>) => {
    const xs: number[] = [];
    for (let i = 0; i < 5; i++) xs.push(await timed(f));
    return median(xs);
  };
  return {
    "alice's catch-up of 10 events (one request), ms": await five(async () => {
      const page = await sync(t.last10From);
      if (page.events.length !== 10) throw new Error(`${t.name}: ${page.events.length} events, not 10`);
    }),
    [`alice's catch-up of ${o.backlog + 10} events (paging), ms`]: await timed(async () => {
      let cursor = t.backlogFrom;
      let received = 0;
      for (let page = await sync(cursor); page.events.length > 0; page = await sync(cursor)) {
        received += page.events.length;
        cursor = page.cursor;
      }
      if (received !== o.backlog + 10) throw new Error(`${t.name}: a catch-up received ${received} events`);
    }),
    "dave's conversation list, ms": await five(() =>
      call(t.server.url, t.dave, 'GET', '/v1/me/conversations'),
    ),
  };
}

export default async function readsGrowth(args: string[]): Promise<void> {
  const o = options(args);
  console.log(
    `reads-growth: alice missed ${o.backlog + 10} events of her small group; then ${o.others} messages ` +
      `(baseline ${o.baselineOthers}) in ${o.groups} groups she is not in; ${o.rounds} rounds`,
  );
  const targets: Target[] = [];
  try {
    targets.push(await prepare('baseline', o, o.baselineOthers));
    targets.push(await prepare('grown', o, o.others));
    const results = new Map<string, Array<Record<string, number>>>(targets.map((t) => [t.name, []]));
    for (let round = 0; round < o.rounds; round++) {
      for (const t of round % 2 === 0 ? targets : [...targets].reverse())
        results.get(t.name)!.push(await measure(t, o));
    }
    console.log(
      `\n${'median of the rounds'.padEnd(48)} ${'baseline'.padStart(10)} ${'grown'.padStart(10)}  ratio`,
    );
    const medianOf = (name: string, key: string) => median(results.get(name)!.map((r) => r[key]!));
    for (const key of Object.keys(results.get('baseline')![0]!)) {
      const [b, g] = [medianOf('baseline', key), medianOf('grown', key)];
      console.log(
        `${key.padEnd(48)} ${b.toFixed(1).padStart(10)} ${g.toFixed(1).padStart(10)}  ${(g / b).toFixed(2)}`,
      );
    }
  } finally {
    for (const t of targets) {
      await t.server.stop();
      rmSync(t.dir, { recursive: true, force: true });
    }
  }
}
