// Upgrading a database made by an older oncely: migration 0012 (events keyed by their stream position where the
// database stores rows in an integer key's order) keeps every event as it was, the constraints that guard the
// invariants, and the reads; new events append after the old ones. Migration 0014 (the user's stream read by
// seq) drops the (conversation, position) index; a user's pages of the old events stay the same.
import { rmSync } from 'node:fs';
import { Migrator, sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { createApps } from '../src/apps/apps.js';
import { systemClock } from '../src/clock.js';
import { loadConfig } from '../src/config.js';
import { createConversations } from '../src/conversations/conversations.js';
import { createEventLog } from '../src/conversations/event-log.js';
import { historyQueries } from '../src/conversations/history.js';
import { createRecall } from '../src/conversations/recall.js';
import { createStore } from '../src/main.js';
import { createMemoryBus } from '../src/realtime/memory-bus.js';
import { createStreamReader, streamQueries } from '../src/realtime/stream-reader.js';
import { migrationsFor } from '../src/store/migrations/index.js';
import type { Store } from '../src/store/store.js';
import { databaseUrl, dropDatabase, tempDir, testStore } from './harness.js';

/** The indexes on `events`, by name. */
async function eventIndexes(store: Store): Promise<string[]> {
  const { rows } =
    testStore === 'sqlite'
      ? await sql<{ name: string }>`select name from sqlite_master
          where type = 'index' and tbl_name = 'events' and sql is not null`.execute(store.db)
      : await sql<{ name: string }>`select indexname as name from pg_indexes
          where tablename = 'events' and indexname <> 'events_pkey'`.execute(store.db);
  return rows.map((r) => r.name).sort();
}

/** Opens a store with the schema as it was before the named migrations. */
async function storeBefore(dir: string, later: string[]): Promise<Store> {
  const store = createStore(
    loadConfig({ ONCELY_DATA_DIR: dir, ONCELY_DATABASE_URL: await databaseUrl(dir) }),
  );
  const earlier = Object.fromEntries(
    Object.entries(migrationsFor(store)).filter(([name]) => !later.includes(name)),
  );
  const { error } = await new Migrator({
    db: store.db,
    provider: { getMigrations: async () => earlier },
    allowUnorderedMigrations: true,
  }).migrateToLatest();
  expect(error).toBeUndefined();
  return store;
}

const everyEvent = (store: Store) => store.db.selectFrom('events').selectAll().orderBy('pos').execute();

describe('upgrading a database of an older oncely', () => {
  let dir: string;
  let store: Store | undefined;
  afterEach(async () => {
    await store?.close();
    rmSync(dir, { recursive: true, force: true });
    await dropDatabase(dir);
  });

  it('0012 keeps every event, the invariants and the reads; new events follow the old', async () => {
    dir = tempDir('oncely-migrate-');
    // The schema as it was before 0012 (and 0014, which came after it).
    store = await storeBefore(dir, ['0012_events_by_position', '0014_stream_by_seq']);
    const bus = createMemoryBus();
    const clock = systemClock;
    const apps = createApps({ store, clock });
    const events = createEventLog({ store });
    const conversations = createConversations({ store, bus, clock, events });
    const app = await apps.createApp('upgrade');
    for (const u of ['ann', 'bob', 'cy']) await apps.upsertUser(app.id, u, null);
    const ids: string[] = [];
    for (let i = 0; i < 3; i++)
      ids.push(
        (await conversations.create(app.id, { kind: 'group', members: ['ann', 'bob'] })).conversation.id,
      );
    const sent = await store.transaction((tx) =>
      events.append(
        tx,
        Array.from({ length: 300 }, (_, n) => ({
          appId: app.id,
          conversationId: ids[n % 3]!,
          type: 'message.created' as const,
          senderId: n % 2 ? 'ann' : 'bob',
          body: { type: 'text' as const, text: `m${n}` },
          clientMsgId: `c${n}`,
        })),
        clock.now(),
      ),
    );
    const recalled = sent[10]!.event.id;
    await createRecall({ store, bus, clock, events, recallWindowSeconds: 0 }).recall(
      { kind: 'app', appId: app.id },
      recalled,
    );
    await conversations.addMembers(app.id, ids[1]!, ['cy'], null);
    await store.db
      .updateTable('events')
      .set({ body: null, expired_at: 123 })
      .where('id', '=', sent[20]!.event.id)
      .execute();
    const before = await everyEvent(store);
    const indexesBefore = await eventIndexes(store);

    expect(await store.migrate()).toEqual(['0012_events_by_position', '0014_stream_by_seq']);

    expect(await everyEvent(store)).toEqual(before);
    expect(await eventIndexes(store)).toEqual(
      store.integerKeyStoresRows
        ? ['events_conversation_seq', 'events_id', 'events_live_by_sender', 'events_uncounted']
        : indexesBefore.filter((name) => name !== 'events_conversation_pos'),
    );
    // Invariant 3's guard and the id's uniqueness hold on the rebuilt table.
    const copy = (over: Record<string, unknown>) => ({ ...before[0]!, ...over });
    await expect(
      store.db
        .insertInto('events')
        .values(copy({ id: 'another', pos: 1e6 }))
        .execute(),
    ).rejects.toThrow(/unique|duplicate/i);
    await expect(
      store.db
        .insertInto('events')
        .values(copy({ seq: 1e6, pos: 1e6 }))
        .execute(),
    ).rejects.toThrow(/unique|duplicate/i);
    // The reads find what they found before.
    const message = await historyQueries.message(store.db, app.id, recalled).executeTakeFirstOrThrow();
    expect(message.recalled_at).not.toBeNull();
    const page = await historyQueries.page(store.db, app.id, ids[0]!, { after: 85, limit: 10 }).execute();
    expect(page.map((e) => e.seq)).toEqual(Array.from({ length: 11 }, (_, i) => 86 + i));
    const last = before.at(-1)!;
    const range = await streamQueries.range(store.db, Number(last.pos) - 5, Number(last.pos), 100).execute();
    expect(range).toEqual(before.slice(-5));
    // New events take the next positions, after every old one.
    const [next] = await store.transaction((tx) =>
      events.append(
        tx,
        [{ appId: app.id, conversationId: ids[2]!, type: 'message.created', senderId: 'bob', body: null }],
        clock.now(),
      ),
    );
    expect(next!.pos).toBe(Number(last.pos) + 1);
    expect((await everyEvent(store)).slice(0, -1)).toEqual(before);
    // A second start finds nothing to do.
    expect(await store.migrate()).toEqual([]);
  });

  it("0014 drops the (conversation, position) index; a user's pages read the same events", async () => {
    dir = tempDir('oncely-migrate-');
    store = await storeBefore(dir, ['0014_stream_by_seq']);
    const clock = systemClock;
    const apps = createApps({ store, clock });
    const events = createEventLog({ store });
    const conversations = createConversations({ store, bus: createMemoryBus(), clock, events });
    const app = await apps.createApp('upgrade');
    for (const u of ['ann', 'bob', 'cy']) await apps.upsertUser(app.id, u, null);
    const ids: string[] = [];
    for (let i = 0; i < 4; i++)
      ids.push(
        (await conversations.create(app.id, { kind: 'group', members: i === 3 ? ['bob'] : ['ann', 'bob'] }))
          .conversation.id,
      );
    const send = (from: number, to: number) =>
      store!.transaction((tx) =>
        events.append(
          tx,
          Array.from({ length: to - from }, (_, n) => ({
            appId: app.id,
            conversationId: ids[((from + n) * 7) % 4]!,
            type: 'message.created' as const,
            senderId: 'bob',
            body: { type: 'text' as const, text: `m${from + n}` },
          })),
          clock.now(),
        ),
      );
    await send(0, 200);
    await conversations.addMembers(app.id, ids[3]!, ['ann'], null);
    await send(200, 400);
    await conversations.removeMember(app.id, ids[1]!, 'ann', null);
    await send(400, 600);
    const reader = createStreamReader(store, { streamsPerStatement: 2 });
    const pages = async () => {
      const seen: string[] = [];
      for (let after = 0; ;) {
        const page = await reader.userEvents(app.id, 'ann', after, 70);
        seen.push(...page.events.map((e) => e.event.id));
        after = page.through;
        if (!page.more) return seen;
      }
    };
    const before = await pages();
    const indexesBefore = await eventIndexes(store);
    expect(indexesBefore).toContain('events_conversation_pos');

    expect(await store.migrate()).toEqual(['0014_stream_by_seq']);

    expect(await eventIndexes(store)).toEqual(
      indexesBefore.filter((name) => name !== 'events_conversation_pos'),
    );
    // Her events, by a plain query: every event of her conversations within her memberships.
    const all = await everyEvent(store);
    const memberships = await streamQueries.membershipsOfUser(store.db, app.id, 'ann').execute();
    const spans = new Map(memberships.map((m) => [m.conversation_id, m]));
    const hers = all.filter((e) => {
      const m = spans.get(e.conversation_id);
      const pos = Number(e.pos);
      return (
        m !== undefined && pos >= Number(m.joined_pos) && (m.left_pos === null || pos <= Number(m.left_pos))
      );
    });
    expect(hers.length).toBeGreaterThan(300);
    expect(before).toEqual(hers.map((e) => e.id));
    expect(await pages()).toEqual(before);
    // New events follow in her stream.
    await send(600, 610);
    const after = await pages();
    expect(after.slice(0, before.length)).toEqual(before);
    expect(after.length).toBeGreaterThan(before.length);
    expect(await store.migrate()).toEqual([]);
  });
});
