// The query plans of the hot reads, per database, so a later change cannot quietly bring back a scan: every
// table is reached through an index by more than the app alone, nothing is sorted in a temporary B-tree,
// and the reads that depend on a particular index use it. Each read is the query the code runs (built by
// the module's exported query function); each database is a planner that explains a compiled query. A
// PostgreSQL planner (EXPLAIN) explains the same reads under the same rules.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { sql, type Compilable, type CompiledQuery, type Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApps } from '../src/apps/apps.js';
import { createRejections, rejectionQueries } from '../src/callbacks/rejections.js';
import { systemClock } from '../src/clock.js';
import { conversationListQueries } from '../src/conversations/conversation-list.js';
import { createConversations } from '../src/conversations/conversations.js';
import { createEventLog } from '../src/conversations/event-log.js';
import { historyQueries } from '../src/conversations/history.js';
import { periodQueries } from '../src/conversations/member-periods.js';
import { createRecall } from '../src/conversations/recall.js';
import { claimKeys, findKeyQuery } from '../src/idempotency/keys.js';
import { expiredKeysQuery } from '../src/idempotency/sweeper.js';
import { createMemoryBus } from '../src/realtime/memory-bus.js';
import { streamQueries } from '../src/realtime/stream-reader.js';
import type { Database } from '../src/store/schema.js';
import { createSqliteStore } from '../src/store/sqlite/sqlite-store.js';
import type { Store } from '../src/store/store.js';
import { openStore, tempDir, testStore } from './harness.js';

/** What the reads need to name: an app with a user in several conversations, with history. */
interface Fixture {
  appId: string;
  user: string;
  conversations: string[];
  /** The user's current conversations. */
  userConversations: string[];
  messageId: string;
  head: number;
}

interface HotRead {
  name: string;
  query(db: Kysely<Database>, f: Fixture): Compilable<unknown>;
  /** Indexes the plan must use: without them the read's cost would follow the data it skips. */
  indexes?: string[];
  /** The plan must read events by their stream position (Planner.readsByPosition). */
  byPosition?: boolean;
}

const hotReads: HotRead[] = [
  { name: 'stream head', query: (db) => streamQueries.head(db) },
  {
    name: 'user stream: memberships reaching past the cursor',
    query: (db, f) => streamQueries.spans(db, f.appId, f.user, 10),
    indexes: ['members_by_user'],
  },
  {
    name: 'user stream: earlier membership periods of a re-added member, as positions',
    query: (db, f) => streamQueries.closedPeriods(db, f.appId, f.user, f.conversations.slice(0, 3), 10),
  },
  {
    name: "user stream: each conversation's first seq past the cursor and past the head",
    // A raw statement (a recursive search): compiled for the store's dialect.
    query: (db, f) => ({ compile: () => streamQueries.seqBounds(db, f.appId, searches(f)).compile(db) }),
    indexes: ['events_conversation_seq'],
  },
  {
    name: 'user stream: a page read as ranges of seqs of its conversations',
    query: (db, f) => streamQueries.streamPage(db, f.appId, seqReads(f)),
    indexes: ['events_conversation_seq'],
  },
  {
    name: 'sequencer gap fill',
    query: (db, f) => streamQueries.range(db, 10, f.head, 1000),
    byPosition: true,
  },
  {
    name: 'hub: memberships of a user',
    query: (db, f) => streamQueries.membershipsOfUser(db, f.appId, f.user),
    indexes: ['members_by_user'],
  },
  {
    name: 'hub: members of a conversation',
    query: (db, f) => streamQueries.membersOfConversation(db, f.appId, f.conversations[0]!),
  },
  {
    name: 'conversation list with unread counts and last messages',
    query: (db, f) => conversationListQueries.conversations(db, f.appId, f.user),
    indexes: ['members_by_user', 'events_uncounted', 'events_live_by_sender', 'events_conversation_seq'],
  },
  {
    name: 'conversation list: members',
    query: (db, f) => conversationListQueries.members(db, f.appId, f.userConversations),
  },
  {
    name: 'history page forward',
    query: (db, f) => historyQueries.page(db, f.appId, f.userConversations[0]!, { after: 20, limit: 50 }),
    indexes: ['events_conversation_seq'],
  },
  {
    name: 'history page back from the newest',
    query: (db, f) => historyQueries.page(db, f.appId, f.userConversations[0]!, { before: 1e9, limit: 50 }),
    indexes: ['events_conversation_seq'],
  },
  { name: 'message by id', query: (db, f) => historyQueries.message(db, f.appId, f.messageId) },
  {
    name: 'message status: recipients',
    query: (db, f) => historyQueries.recipients(db, f.appId, f.conversations[0]!, f.user, 5),
  },
  {
    name: 'history page within membership periods',
    query: (db, f) =>
      historyQueries.page(db, f.appId, f.userConversations[0]!, { after: 20, limit: 50 }, [
        { from: 3, to: 10 },
        { from: 15, to: undefined },
      ]),
    indexes: ['events_conversation_seq'],
  },
  {
    name: "a user's membership periods in a conversation",
    query: (db, f) => periodQueries.ofUser(db, f.appId, f.conversations[0]!, f.user),
  },
  {
    name: 'idempotency record lookup',
    query: (db, f) => findKeyQuery(db, { appId: f.appId, scope: 'app', key: 'k-7', now: Date.now() }),
  },
  {
    name: 'sweeper: next expired records',
    query: (db) => expiredKeysQuery(db, Date.now(), 500),
    indexes: ['idempotency_keys_expiry'],
  },
  {
    name: 'rejections page',
    query: (db, f) => rejectionQueries.list(db, f.appId, 'src', { limit: 20 }),
    indexes: ['callback_rejections_by_source'],
  },
  {
    name: 'rejections trim',
    query: (db, f) => rejectionQueries.cutoff(db, f.appId, 'src', 10),
    indexes: ['callback_rejections_by_source'],
  },
];

const searches = (f: Fixture) =>
  f.userConversations.slice(0, 3).flatMap((conversationId) => [
    { conversationId, pos: 5 },
    { conversationId, pos: f.head },
  ]);
const seqReads = (f: Fixture) =>
  f.userConversations
    .slice(0, 3)
    .map((conversationId, stream) => ({ stream, conversationId, from: 5, to: 60 }));

/** One database: how to open a store of it and how to read its plans. */
interface Planner {
  name: string;
  open(dir: string): Promise<Store>;
  /** The plan of a compiled query, one line per step. */
  explain(store: Store, query: CompiledQuery): Promise<string[]>;
  /** What in a plan breaks the rules (no step may scan a table or search it by the app alone; no sort). */
  violations(plan: string[]): string[];
  /** Whether the plan reads through the named index. */
  uses(plan: string[], index: string): boolean;
  /**
   * Whether the plan reads events by a range of stream positions: through the table's own key where the
   * database stores rows in its order (migration 0012), else through the events_pos index.
   */
  readsByPosition(plan: string[]): boolean;
}

const sqlite: Planner = {
  name: 'sqlite',
  async open(dir) {
    const store = createSqliteStore({
      filename: join(dir, 'plans.db'),
      durability: 'normal',
      optimizeIntervalMs: 0,
    });
    await store.migrate();
    return store;
  },
  async explain(store, query) {
    const { rows } = await store.db.executeQuery<{ detail: string }>({
      ...query,
      sql: `EXPLAIN QUERY PLAN ${query.sql}`,
    });
    return rows.map((r) => r.detail);
  },
  violations(plan) {
    // A subquery's own result (a co-routine or materialized view) is bounded by its LIMIT; scanning it is fine.
    const subqueries = new Set(plan.flatMap((l) => /^(?:CO-ROUTINE|MATERIALIZE) (\S+)/.exec(l)?.[1] ?? []));
    return plan.filter(
      (l) =>
        (/^SCAN (\S+)/.test(l) && !subqueries.has(/^SCAN (\S+)/.exec(l)![1]!)) ||
        /TEMP B-TREE/.test(l) ||
        /^SEARCH \S+ USING (?:COVERING )?INDEX \S+ \(app_id=\?\)$/.test(l),
    );
  },
  uses: (plan, index) => plan.some((l) => new RegExp(`INDEX ${index}\\b`).test(l)),
  readsByPosition: (plan) => plan.some((l) => /^SEARCH events USING INTEGER PRIMARY KEY \(rowid>/.test(l)),
};

// PostgreSQL: sequential scans and sorts are made prohibitively expensive for the explain, so the plan shows
// whether an index can answer the read at all (on a fixture this small the planner would otherwise scan and
// sort whatever the indexes).
const postgres: Planner = {
  name: 'postgres',
  open: (dir) => openStore(dir),
  async explain(store, query) {
    return store.transaction(async (tx) => {
      await sql`set local enable_seqscan = off`.execute(tx);
      await sql`set local enable_sort = off`.execute(tx);
      const { rows } = await tx.executeQuery<{ 'QUERY PLAN': string }>({
        ...query,
        sql: `explain ${query.sql}`,
      });
      return rows.map((r) => r['QUERY PLAN'].trim());
    });
  },
  violations(plan) {
    return plan.filter(
      (l) =>
        /\bSeq Scan on\b/.test(l) ||
        /^(?:->\s+)?(?:Incremental )?Sort\s+\(/.test(l) ||
        /^(?:Index Cond|Recheck Cond): \(app_id = \$\d+\)$/.test(l),
    );
  },
  uses: (plan, index) => plan.some((l) => new RegExp(`(?:using|Bitmap Index Scan on) ${index}\\b`).test(l)),
  readsByPosition: (plan) => postgres.uses(plan, 'events_pos'),
};

// Each project explains on its own store: the sqlite project with SQLite's planner, the postgres one with
// PostgreSQL's.
const planners: Planner[] = testStore === 'sqlite' ? [sqlite] : [postgres];

/** The real write paths fill the store: events, a recall, membership changes, keys and rejections. */
async function fill(store: Store): Promise<Fixture> {
  const clock = systemClock;
  const bus = createMemoryBus();
  const apps = createApps({ store, clock });
  const events = createEventLog({ store });
  const conversations = createConversations({ store, bus, clock, events });
  const app = await apps.createApp('plans');
  const users = ['alice', ...Array.from({ length: 30 }, (_, i) => `u${i}`)];
  for (const u of users) await apps.upsertUser(app.id, u, null);
  const ids: string[] = [];
  for (let i = 0; i < 40; i++) {
    const members =
      i % 4 === 0 ? ['alice', `u${i % 30}`, `u${(i + 1) % 30}`] : [`u${i % 30}`, `u${(i + 7) % 30}`];
    ids.push((await conversations.create(app.id, { kind: 'group', members })).conversation.id);
  }
  let messageId = '';
  await store.transaction(async (tx) => {
    // Appended 200 at a time: one append per event is 4,000 round trips, slow on a busy PostgreSQL.
    for (let from = 0; from < 4000; from += 200) {
      const batch = Array.from({ length: 200 }, (_, i) => {
        const n = from + i;
        const c = (n * 7) % ids.length;
        return {
          appId: app.id,
          conversationId: ids[c]!,
          type: 'message.created' as const,
          senderId: c % 8 === 0 && n % 3 === 0 ? 'alice' : `u${c % 30}`,
          body: { type: 'text' as const, text: `m${n}` },
        };
      });
      const appended = await events.append(tx, batch, clock.now());
      if (from === 0) messageId = appended[100]!.event.id;
    }
    // Half of the keys expired already (claimed 10 s ago with a 5 s TTL).
    for (const odd of [0, 1]) {
      const claims = Array.from({ length: 100 }, (_, i) => 2 * i + odd).map((k) => ({
        appId: app.id,
        scope: 'app',
        key: `k-${k}`,
        fingerprint: 'f',
        result: '{}',
      }));
      await claimKeys(tx, claims, clock.now() - odd * 10_000, 5_000);
    }
  });
  await createRecall({ store, bus, clock, events, recallWindowSeconds: 0 }).recall(
    { kind: 'app', appId: app.id },
    messageId,
  );
  await conversations.addMembers(app.id, ids[1]!, ['alice'], null);
  await conversations.removeMember(app.id, ids[1]!, 'alice', null);
  const rejections = createRejections({ store, clock, maxPerSource: 10 });
  for (let k = 0; k < 15; k++)
    await rejections.record({
      appId: app.id,
      sourceId: 'src',
      reason: 'invalid_payload',
      message: 'bad',
      payload: Buffer.from('{}'),
    });
  const head = await streamQueries.head(store.db).executeTakeFirstOrThrow();
  return {
    appId: app.id,
    user: 'alice',
    conversations: ids,
    userConversations: ids.filter((_, i) => i % 8 === 0),
    messageId,
    head: Number(head.value),
  };
}

describe.each(planners)('query plans on $name', (planner) => {
  let dir: string;
  let store: Store;
  let fixture: Fixture;

  beforeAll(async () => {
    dir = tempDir('oncely-plans-');
    store = await planner.open(dir);
    fixture = await fill(store);
  });
  afterAll(async () => {
    await store?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function check(read: HotRead) {
    const plan = await planner.explain(store, read.query(store.db, fixture).compile());
    expect(planner.violations(plan), plan.join('\n')).toEqual([]);
    for (const index of read.indexes ?? []) expect(planner.uses(plan, index), plan.join('\n')).toBe(true);
    if (read.byPosition) expect(planner.readsByPosition(plan), plan.join('\n')).toBe(true);
    // The query runs as built (the plan of a query that fails would prove nothing).
    await store.db.executeQuery(read.query(store.db, fixture).compile());
  }

  describe('before the planner has statistics', () => {
    it.each(hotReads)('$name', check);
  });

  describe("after the store's optimize gave it statistics", () => {
    beforeAll(async () => {
      for (const read of hotReads) await store.db.executeQuery(read.query(store.db, fixture).compile());
      await store.optimize();
    });
    it.each(hotReads)('$name', check);
  });
});

describe('the SQLite plan rules', () => {
  it('catch the plans this suite exists to prevent', () => {
    // The user stream before: every event of the app visited, joined to memberships, then sorted.
    expect(
      sqlite.violations([
        'SEARCH e USING INDEX events_conversation_seq (app_id=?)',
        'SEARCH m USING INDEX sqlite_autoindex_members_1 (app_id=? AND conversation_id=? AND user_id=?)',
        'USE TEMP B-TREE FOR ORDER BY',
      ]),
    ).toHaveLength(2);
    expect(sqlite.violations(['SCAN events'])).toHaveLength(1);
    expect(
      sqlite.violations(['CO-ROUTINE e', 'SEARCH events USING INDEX events_pos (pos>?)', 'SCAN e']),
    ).toEqual([]);
    expect(sqlite.readsByPosition(['SEARCH events USING INTEGER PRIMARY KEY (rowid>? AND rowid<?)'])).toBe(
      true,
    );
    expect(sqlite.readsByPosition(['SEARCH events USING INDEX events_conversation_pos (app_id=?)'])).toBe(
      false,
    );
  });
});

describe('the PostgreSQL plan rules', () => {
  it('catch the plans this suite exists to prevent', () => {
    expect(
      postgres.violations([
        'Seq Scan on events e  (cost=10000000000.00..10000000082.00 rows=1 width=8)',
        '->  Sort  (cost=1.1..1.2 rows=1 width=8)',
        'Index Cond: (app_id = $1)',
      ]),
    ).toHaveLength(3);
    const good = [
      'Limit  (cost=0.29..8.31 rows=1 width=8)',
      '->  Index Scan using events_pos on events  (cost=0.29..8.31 rows=1 width=8)',
      'Index Cond: (pos > $1)',
      'CTE Scan on e  (cost=0.00..0.02 rows=1 width=8)',
    ];
    expect(postgres.violations(good)).toEqual([]);
    expect(postgres.uses(good, 'events_pos')).toBe(true);
  });
});
