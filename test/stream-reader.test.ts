// The stream reader against the store: a user's pages, read by one statement per few conversations and in
// parts of a few events a turn, give exactly her events in position order — each membership from the event
// that added her to the one that removed her — against the same events found by a plain query.
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApps } from '../src/apps/apps.js';
import { systemClock } from '../src/clock.js';
import { createConversations } from '../src/conversations/conversations.js';
import { createEventLog } from '../src/conversations/event-log.js';
import { CatchUpQueue } from '../src/realtime/catch-up-queue.js';
import { createMemoryBus } from '../src/realtime/memory-bus.js';
import { createStreamReader, type StreamReader } from '../src/realtime/stream-reader.js';
import type { Store } from '../src/store/store.js';
import { openStore, tempDir } from './harness.js';

let dir: string;
let store: Store;
let appId: string;

beforeAll(async () => {
  dir = tempDir('oncely-stream-reader-');
  store = await openStore(dir);
  const clock = systemClock;
  const events = createEventLog({ store });
  const conversations = createConversations({ store, bus: createMemoryBus(), clock, events });
  const apps = createApps({ store, clock });
  const app = await apps.createApp('stream-reader');
  appId = app.id;
  for (const user of ['alice', 'bob', 'carl']) await apps.upsertUser(appId, user, null);
  // Alice is in 12 of 16 conversations; she joins one late and leaves another halfway.
  const ids: string[] = [];
  for (let i = 0; i < 16; i++) {
    const members = i % 4 === 3 ? ['bob', 'carl'] : ['alice', 'bob'];
    ids.push((await conversations.create(appId, { kind: 'group', members })).conversation.id);
  }
  const send = async (from: number, to: number) => {
    await store.transaction(async (tx) => {
      const batch = Array.from({ length: to - from }, (_, i) => ({
        appId,
        conversationId: ids[((from + i) * 7) % ids.length]!,
        type: 'message.created' as const,
        senderId: 'bob',
        body: { type: 'text' as const, text: `m${from + i}` },
      }));
      await events.append(tx, batch, clock.now());
    });
  };
  await send(0, 300);
  await conversations.addMembers(appId, ids[3]!, ['alice'], null);
  await send(300, 600);
  await conversations.removeMember(appId, ids[5]!, 'alice', null);
  await send(600, 900);
});
afterAll(async () => {
  await store?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Alice's events by a plain query: every event of each of her memberships, from its start to its end. */
async function expected(after: number): Promise<string[]> {
  const rows = await store.db
    .selectFrom('events as e')
    .innerJoin('members as m', (j) =>
      j.onRef('m.app_id', '=', 'e.app_id').onRef('m.conversation_id', '=', 'e.conversation_id'),
    )
    .select(['e.id', 'e.pos', 'm.joined_pos', 'm.left_pos'])
    .where('e.app_id', '=', appId)
    .where('m.user_id', '=', 'alice')
    .where('e.pos', '>', after)
    .orderBy('e.pos')
    .execute();
  return rows
    .filter((r) => r.pos >= r.joined_pos && (r.left_pos === null || r.pos <= r.left_pos))
    .map((r) => r.id);
}

async function pageAll(reader: StreamReader, after: number, limit: number) {
  const ids: string[] = [];
  const sizes: number[] = [];
  const chars: number[] = [];
  for (;;) {
    const page = await reader.userEvents(appId, 'alice', after, limit);
    ids.push(...page.events.map((e) => e.event.id));
    sizes.push(page.events.length);
    chars.push(page.events.reduce((n, e) => n + JSON.stringify(e.event.body).length, 0));
    expect(page.events.map((e) => e.pos)).toEqual([...page.events.map((e) => e.pos)].sort((a, b) => a - b));
    after = page.through;
    if (!page.more) return { ids, sizes, chars, through: after };
  }
}

describe('a user stream read from the store', () => {
  it.each([
    { name: 'one statement, whole pages', options: {}, limit: 500, full: 500 },
    { name: 'five conversations a statement', options: { streamsPerStatement: 5 }, limit: 20, full: 20 },
    {
      name: 'five conversations a statement, 7 events a turn',
      options: { streamsPerStatement: 5, eventsPerTurn: 7, catchUps: new CatchUpQueue() },
      limit: 20,
      full: 20,
    },
    {
      // Each body is about 30 characters: a page ends after the turn that passed 1,000.
      name: 'pages ended early by the characters of their bodies',
      options: { eventsPerTurn: 25, pageChars: 1000, catchUps: new CatchUpQueue() },
      limit: 200,
      full: undefined,
    },
  ])(
    '$name: every event of hers once, in order, pages full until the last',
    async ({ options, limit, full }) => {
      const reader = createStreamReader(store, options);
      const head = await reader.head();
      for (const after of [0, 250, 640]) {
        const want = await expected(after);
        expect(want.length).toBeGreaterThan(0);
        const { ids, sizes, chars, through } = await pageAll(reader, after, limit);
        expect(ids).toEqual(want);
        if (full !== undefined) expect(sizes.slice(0, -1).every((n) => n === full)).toBe(true);
        // Else ended early, once its bodies passed 1,000 characters.
        else
          for (const [i, n] of chars.slice(0, -1).entries()) {
            expect(n).toBeGreaterThanOrEqual(1000);
            expect(sizes[i]).toBeLessThan(limit);
          }
        expect(through).toBe(head);
      }
    },
  );
});
