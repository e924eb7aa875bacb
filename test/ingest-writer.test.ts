// The writer against a real SQLite file without HTTP: a group commit costs the same statements for a few
// sends as for hundreds (of several apps and scopes), positions are the last write, event writers commit
// with the events, and sends of one key in one group are one message.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import type { KyselyPlugin } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { systemClock } from '../src/clock.js';
import { createConversations } from '../src/conversations/conversations.js';
import { createEventLog, type EventWriter } from '../src/conversations/event-log.js';
import { createIngest, type SendCommand } from '../src/ingest/ingest.js';
import { createLogger } from '../src/observability/logger.js';
import { createMetrics } from '../src/observability/metrics.js';
import { createMemoryBus } from '../src/realtime/memory-bus.js';
import type { BusMessage } from '../src/realtime/bus.js';
import { createSqliteStore } from '../src/store/sqlite/sqlite-store.js';
import type { Store } from '../src/store/store.js';
import { tempDir } from './harness.js';

let dir: string;
let store: Store;

/**
 * The same store, recording the SQL of every statement run (results are counted, so that statements
 * compiled once and re-bound count each time) and the transactions.
 */
function recording(base: Store) {
  const log = { sql: [] as string[], transactions: 0 };
  const executor = base.db.getExecutor();
  const texts = new Map<unknown, string>();
  const plugin: KyselyPlugin = {
    transformQuery: (args) => {
      texts.set(args.queryId, executor.compileQuery(args.node, args.queryId).sql);
      return args.node;
    },
    transformResult: async (args) => {
      log.sql.push(texts.get(args.queryId) ?? '(compiled elsewhere)');
      return args.result;
    },
  };
  const db = base.db.withPlugin(plugin);
  const wrapped: Store = {
    ...base,
    db,
    transaction: (fn) => {
      log.transactions++;
      return db.transaction().execute(fn);
    },
  };
  return { store: wrapped, log };
}

function parts(s: Store, writers: EventWriter[] = []) {
  const bus = createMemoryBus();
  const published: BusMessage[] = [];
  void bus.subscribe({ message: (m) => published.push(m), lost: () => undefined });
  const events = createEventLog({ store: s, writers });
  const conversations = createConversations({ store: s, bus, clock: systemClock, events });
  const ingest = createIngest({
    store: s,
    bus,
    clock: systemClock,
    metrics: createMetrics(),
    logger: createLogger('silent'),
    events,
    conversations,
    idempotencyTtlSeconds: 3600,
    messageBodyMaxBytes: 65536,
    groupCommitMaxSize: 1000,
    groupCommitInFlight: 1,
  });
  return { ingest, conversations, published };
}

const send = (appId: string, conv: string, from: string, key?: string, scope = 'app'): SendCommand => ({
  appId,
  conversationId: conv,
  senderId: from,
  body: { type: 'text', text: `${key ?? 'unkeyed'} from ${from}` },
  idempotency: key === undefined ? undefined : { appId, scope, key, fingerprint: `fp-${key}` },
  source: 'test',
});

beforeEach(async () => {
  dir = tempDir();
  store = createSqliteStore({ filename: join(dir, 'oncely.db'), durability: 'normal' });
  await store.migrate();
  const { conversations } = parts(store);
  for (const app of ['app1', 'app2']) {
    await store.db
      .insertInto('apps')
      .values({ id: app, name: app, token_secret: 'x', created_at: 0 })
      .execute();
    await store.db
      .insertInto('users')
      .values(
        ['alice', 'bob', 'carol'].map((id) => ({
          app_id: app,
          id,
          display_name: null,
          created_at: 0,
          updated_at: 0,
        })),
      )
      .execute();
    for (const id of ['g1', 'g2', 'g3'])
      await conversations.create(app, { id, kind: 'group', members: ['alice', 'bob'] });
  }
});
afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

/** `n` sends of two apps, three conversations, app and user scopes and no key; a fifth repeat earlier keys. */
function mixed(n: number, prefix: string): SendCommand[] {
  return Array.from({ length: n }, (_, i) => {
    const app = i % 2 === 0 ? 'app1' : 'app2';
    const conv = ['g1', 'g2', 'g3'][i % 3]!;
    const from = i % 4 < 2 ? 'alice' : 'bob';
    if (i % 7 === 6) return send(app, conv, from);
    const key = i % 5 === 4 ? `${prefix}-${i - 4}` : `${prefix}-${i}`;
    return send(app, conv, from, key, i % 3 === 0 ? 'app' : `user:${from}`);
  });
}

describe('the writer', () => {
  it('a group commit costs the same statements for 12 sends as for 300, across apps and scopes', async () => {
    const { store: s, log } = recording(store);
    const { ingest } = parts(s);
    const cost = async (n: number, prefix: string) => {
      // Earlier keys, so that the group also answers repeats of committed sends.
      await Promise.all(mixed(n, `${prefix}-old`).map((c) => ingest.send(c)));
      const cmds = [...mixed(n, prefix), ...mixed(4, `${prefix}-old`)];
      log.sql.length = 0;
      log.transactions = 0;
      const outcomes = await Promise.all(cmds.map((c) => ingest.send(c)));
      expect(log.transactions).toBe(1);
      expect(outcomes.filter((o) => o.status === 'created').length).toBeGreaterThan(n / 2);
      expect(outcomes.filter((o) => o.status === 'duplicate').length).toBeGreaterThanOrEqual(4);
      return log.sql.length;
    };
    const small = await cost(12, 's');
    const large = await cost(300, 'l');
    expect(large).toBe(small);
    expect(small).toBeLessThanOrEqual(7);
  });

  it('takes positions and inserts the events last, after every other write, once per group', async () => {
    const { store: s, log } = recording(store);
    const { ingest } = parts(s);
    log.sql.length = 0;
    await Promise.all(mixed(50, 'p').map((c) => ingest.send(c)));
    const counter = log.sql.filter((q) => /update "counters"/.test(q));
    expect(counter).toHaveLength(1);
    expect(log.sql.at(-2)).toMatch(/^update "counters"/);
    expect(log.sql.at(-1)).toMatch(/^insert into "events"/);
  });

  it('event writers run in the transaction with ids and seqs, before the rows, and roll back with them', async () => {
    const seen: Array<{ id: string; seq: number; rowsThen: number }> = [];
    let fail = false;
    const writer: EventWriter = async (tx, events) => {
      const ids = events.map((e) => e.id);
      const { n } = await tx
        .selectFrom('events')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('id', 'in', ids)
        .executeTakeFirstOrThrow();
      for (const e of events) seen.push({ id: e.id, seq: e.seq, rowsThen: Number(n) });
      if (fail) throw new Error('outbox full');
    };
    const { ingest, conversations } = parts(store, [writer]);
    const created = await Promise.all(
      [1, 2, 3].map((i) => ingest.send(send('app1', 'g1', 'alice', `w${i}`))),
    );
    expect(seen.map((e) => e.seq)).toEqual([1, 2, 3]);
    expect(seen.every((e) => e.rowsThen === 0)).toBe(true);
    expect(created.map((o) => (o.status === 'created' ? o.result.id : ''))).toEqual(seen.map((e) => e.id));
    // Member changes go through the same log.
    await conversations.addMembers('app1', 'g1', ['carol'], null);
    expect(seen.at(-1)!.seq).toBe(4);

    fail = true;
    await expect(ingest.send(send('app1', 'g1', 'alice', 'w9'))).rejects.toThrow('outbox full');
    const rows = await store.db
      .selectFrom('events')
      .select('seq')
      .where('conversation_id', '=', 'g1')
      .execute();
    expect(rows.filter((r) => r.seq > 4)).toHaveLength(0);
    const key = await store.db.selectFrom('idempotency_keys').selectAll().where('key', '=', 'w9').execute();
    expect(key).toHaveLength(0);
  });

  it('sends of one key in one group make one message; a refused send leaves the others', async () => {
    const { ingest, published } = parts(store);
    const other = { ...send('app1', 'g2', 'alice', 'k'), body: { type: 'text' as const, text: 'other' } };
    const outcomes = await Promise.all(
      [
        ingest.send(send('app1', 'g1', 'carol', 'refused')),
        ingest.send(send('app1', 'g2', 'alice', 'k')),
        ingest.send(send('app1', 'g2', 'alice', 'k')),
        ingest.send({ ...other, idempotency: { ...other.idempotency!, fingerprint: 'fp-other' } }),
        ingest.send(send('app1', 'nowhere', 'alice', 'lost')),
      ].map((p) =>
        p.then(
          (o) => o.status,
          (err: Error & { code?: string }) => err.code,
        ),
      ),
    );
    expect(outcomes).toEqual(['not_member', 'created', 'duplicate', 'reused', 'conversation_not_found']);
    expect(published.filter((m) => m.kind === 'event')).toHaveLength(1);
  });

  it('a repeat ahead of new sends to its conversation in one group leaves their stored answers right', async () => {
    const { ingest } = parts(store);
    const first = await ingest.send(send('app1', 'g3', 'alice', 'early'));
    expect(first.result.seq).toBe(1);
    // One group: the repeat's claim loses, so the two new sends after it take seqs 2 and 3, not 3 and 4.
    const group = await Promise.all(
      [
        send('app1', 'g3', 'alice', 'early'),
        send('app1', 'g3', 'bob', 'n1'),
        send('app1', 'g3', 'alice', 'n2'),
      ].map((c) => ingest.send(c)),
    );
    expect(group.map((o) => [o.status, o.result.seq])).toEqual([
      ['duplicate', 1],
      ['created', 2],
      ['created', 3],
    ]);
    // Their repeats replay what was stored with the keys.
    const again = await Promise.all(
      [send('app1', 'g3', 'bob', 'n1'), send('app1', 'g3', 'alice', 'n2')].map((c) => ingest.send(c)),
    );
    expect(again.map((o) => [o.status, o.result])).toEqual([
      ['duplicate', group[1]!.result],
      ['duplicate', group[2]!.result],
    ]);
  });
});
