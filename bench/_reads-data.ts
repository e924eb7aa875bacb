// Data for `bench/reads.ts`: an app of many conversations grown straight through the Store in large
// transactions (a million events through HTTP would take the bench longer than the reads it measures).
// The app, users and conversations are made through the same functions the API uses; only the events are
// bulk-inserted, with the seqs, positions and counters the event log would have given them.
import { newId, systemClock } from '../src/clock.js';
import { createApps } from '../src/apps/apps.js';
import { createConversations } from '../src/conversations/conversations.js';
import { createEventLog } from '../src/conversations/event-log.js';
import { createMemoryBus } from '../src/realtime/memory-bus.js';
import type { EventsTable } from '../src/store/schema.js';
import type { Store } from '../src/store/store.js';

export interface ReadsLayout {
  appId: string;
  apiKey: string;
  /** The reader whose catch-ups and list are measured. */
  reader: string;
  conversations: Array<{ id: string; members: string[] }>;
  /** Indexes into `conversations` of the reader's conversations. */
  readerConversations: number[];
}

/** An app with `conversations` groups of `membersPer` users; the reader is in `readerIn` of them. */
export async function createLayout(
  store: Store,
  opts: { conversations: number; membersPer: number; readerIn: number; users: number },
): Promise<ReadsLayout> {
  const reader = 'alice';
  // The reader's conversations are spread over the app, not the first ones created.
  const step = Math.floor(opts.conversations / opts.readerIn);
  let readerIn = 0;
  const groups = Array.from({ length: opts.conversations }, (_, i) => {
    const withReader = i % step === 0 && readerIn < opts.readerIn;
    if (withReader) readerIn++;
    const others = Array.from(
      { length: opts.membersPer - (withReader ? 1 : 0) },
      (_, k) => `u${(i * 7 + k * 13) % opts.users}`,
    );
    return [...new Set(withReader ? [reader, ...others] : others)];
  });
  const users = [reader, ...Array.from({ length: opts.users }, (_, i) => `u${i}`)];
  return createGroups(store, reader, users, groups);
}

/** An app with `users` and one group per member list, made as the API makes them. */
export async function createGroups(
  store: Store,
  reader: string,
  users: string[],
  groups: string[][],
): Promise<ReadsLayout> {
  const apps = createApps({ store, clock: systemClock });
  const conversations = createConversations({
    store,
    bus: createMemoryBus(),
    clock: systemClock,
    events: createEventLog({ store }),
  });
  const app = await apps.createApp('reads-bench');
  for (const u of users) await apps.upsertUser(app.id, u, null);
  const layout: ReadsLayout = {
    appId: app.id,
    apiKey: app.apiKey,
    reader,
    conversations: [],
    readerConversations: [],
  };
  for (const [i, members] of groups.entries()) {
    const { conversation } = await conversations.create(app.id, { kind: 'group', members });
    if (members.includes(reader)) layout.readerConversations.push(i);
    layout.conversations.push({ id: conversation.id, members });
  }
  return layout;
}

/** One message to append: the conversation (index into the layout) and its sender. */
export interface Append {
  conversation: number;
  sender: string;
}

/**
 * Appends messages in the given order, `perTransaction` at a time, exactly as a send would have numbered
 * them (next seq of the conversation, next stream position). Returns the position of the last one.
 */
export async function appendMessages(
  store: Store,
  layout: ReadsLayout,
  appends: Iterable<Append>,
  perTransaction = 50_000,
): Promise<number> {
  const lastSeq = new Map<string, number>();
  for (const row of await store.db
    .selectFrom('conversations')
    .select(['id', 'last_seq'])
    .where('app_id', '=', layout.appId)
    .execute())
    lastSeq.set(row.id, Number(row.last_seq));
  const counter = await store.db
    .selectFrom('counters')
    .select('value')
    .where('name', '=', 'pos')
    .executeTakeFirstOrThrow();
  let pos = Number(counter.value);
  const now = Date.now();
  const body = JSON.stringify({ type: 'text', text: 'a message of about the usual length, sent to a group' });

  let pending: Omit<EventsTable, 'expired_at'>[] = [];
  const flush = async () => {
    const rows = pending;
    pending = [];
    if (rows.length === 0) return;
    await store.transaction(async (tx) => {
      // 12 columns a row: 2,000 rows stay under SQLite's 32,766 bound parameters.
      for (let i = 0; i < rows.length; i += 2_000)
        await tx
          .insertInto('events')
          .values(rows.slice(i, i + 2_000))
          .execute();
      for (const [id, seq] of lastSeq)
        await tx
          .updateTable('conversations')
          .set({ last_seq: seq })
          .where('app_id', '=', layout.appId)
          .where('id', '=', id)
          .where('last_seq', '<', seq)
          .execute();
      await tx.updateTable('counters').set({ value: pos }).where('name', '=', 'pos').execute();
    });
  };
  for (const a of appends) {
    const conversationId = layout.conversations[a.conversation]!.id;
    const seq = (lastSeq.get(conversationId) ?? 0) + 1;
    lastSeq.set(conversationId, seq);
    pending.push({
      id: newId(),
      app_id: layout.appId,
      conversation_id: conversationId,
      seq,
      pos: ++pos,
      type: 'message.created',
      sender_id: a.sender,
      body,
      client_msg_id: null,
      subject_id: null,
      created_at: now,
      recalled_at: null,
    });
    if (pending.length >= perTransaction) await flush();
  }
  await flush();
  return pos;
}

/** Moves the reader's read markers to the conversations' current last seq (she has read everything so far). */
export async function readEverything(store: Store, layout: ReadsLayout): Promise<void> {
  for (const i of layout.readerConversations) {
    const id = layout.conversations[i]!.id;
    const conv = await store.db
      .selectFrom('conversations')
      .select('last_seq')
      .where('app_id', '=', layout.appId)
      .where('id', '=', id)
      .executeTakeFirstOrThrow();
    await store.db
      .updateTable('members')
      .set({ read_seq: conv.last_seq, delivered_seq: conv.last_seq })
      .where('app_id', '=', layout.appId)
      .where('conversation_id', '=', id)
      .where('user_id', '=', layout.reader)
      .execute();
  }
}

/** A deterministic pseudo-random sequence (the same data on every run). */
export function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface SeedOptions {
  /** Events in the whole app when seeding ends; 0 for an app holding only the reader's backlog. */
  events: number;
  conversations: number;
  readerIn: number;
  /** Events of the reader's conversations after her cursor. */
  backlog: number;
  /** The app's events written while she was away (hers included). */
  awayEvents: number;
}

export interface SeededApp {
  layout: ReadsLayout;
  /** Positions after which the reader has `backlog` and 10 events left. */
  backlogFrom: number;
  last10From: number;
}

/**
 * A SQLite file holding the app: first its history (spread over every conversation, hers included; she
 * has read all of it), then the time she was away: her `backlog` events among the others' writes.
 */
export async function seedApp(store: Store, o: SeedOptions): Promise<SeededApp> {
  const layout = await createLayout(store, {
    conversations: o.conversations,
    membersPer: 5,
    readerIn: o.readerIn,
    users: 200,
  });
  const rnd = random(o.events + o.conversations);
  const all = layout.conversations.map((_, i) => i);
  const hers = layout.readerConversations;
  const others = all.filter((i) => !hers.includes(i));
  const away = o.events === 0 ? o.backlog : o.awayEvents;
  const pick = (pool: number[], except?: string): Append => {
    const conversation = pool[Math.floor(rnd() * pool.length)]!;
    const members = layout.conversations[conversation]!.members.filter((m) => m !== except);
    return { conversation, sender: members[Math.floor(rnd() * members.length)]! };
  };
  function* history() {
    for (let i = Math.max(0, o.events - away); i > 0; i--) yield pick(all);
  }
  await appendMessages(store, layout, history());
  await readEverything(store, layout);
  const backlogFrom = await head(store);
  // Her events are dealt at random among the others', exactly `backlog` of them.
  const positions: number[] = [];
  function* awayTime() {
    let mine = 0;
    for (let i = 0; i < away; i++) {
      if (rnd() < (o.backlog - mine) / (away - i)) {
        mine++;
        positions.push(backlogFrom + i + 1);
        yield pick(hers, layout.reader);
      } else yield pick(others);
    }
  }
  await appendMessages(store, layout, awayTime());
  return { layout, backlogFrom, last10From: positions.at(-11)! };
}

export async function head(store: Store): Promise<number> {
  const row = await store.db
    .selectFrom('counters')
    .select('value')
    .where('name', '=', 'pos')
    .executeTakeFirstOrThrow();
  return Number(row.value);
}
