// The writes of one batch as a handful of set-based statements instead of several per item: claim the keys,
// take seqs and stream positions, insert the events, store the answers. Same rows and invariants as the
// per-message path (`ingest.sendInTransaction` and `appendEvent`); keep the two in step.
import { sql } from 'kysely';
import { newId } from '../clock.js';
import type { EventWriter, MessageBody } from '../conversations/events.js';
import type { EventsTable } from '../store/schema.js';
import type { Tx } from '../store/store.js';

/** Rows per multi-row statement: well under SQLite's and PostgreSQL's bound-parameter limits. */
const chunkSize = 400;

function chunks<T>(items: T[]): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += chunkSize) out.push(items.slice(i, i + chunkSize));
  return out;
}

/**
 * Claims keys of one scope; returns the keys this transaction now holds. A key held by a live record is
 * not returned (the caller replays that record); an expired one is taken over, as `claimKey` does.
 * Invariant 1: the claims commit with the events, or not at all.
 */
export async function claimKeys(
  tx: Tx,
  ref: { appId: string; scope: string },
  claims: Array<{ key: string; fingerprint: string }>,
  now: number,
  ttlMs: number,
): Promise<Set<string>> {
  const held = new Set<string>();
  for (const part of chunks(claims)) {
    const rows = await tx
      .insertInto('idempotency_keys')
      .values(
        part.map((c) => ({
          app_id: ref.appId,
          scope: ref.scope,
          key: c.key,
          fingerprint: c.fingerprint,
          result: '{}',
          created_at: now,
          expires_at: now + ttlMs,
        })),
      )
      .onConflict((oc) =>
        oc
          .columns(['app_id', 'scope', 'key'])
          .doUpdateSet((eb) => ({
            fingerprint: eb.ref('excluded.fingerprint'),
            result: eb.ref('excluded.result'),
            created_at: eb.ref('excluded.created_at'),
            expires_at: eb.ref('excluded.expires_at'),
          }))
          .where('idempotency_keys.expires_at', '<=', now),
      )
      .returning('key')
      .execute();
    for (const row of rows) held.add(row.key);
  }
  return held;
}

/** Stores each claimed key's answer: one statement per chunk. */
export async function storeResults(
  tx: Tx,
  ref: { appId: string; scope: string },
  results: Array<{ key: string; result: unknown }>,
): Promise<void> {
  for (const part of chunks(results)) {
    let value = sql<string>`case ${sql.ref('key')}`;
    for (const r of part) value = sql<string>`${value} when ${r.key} then ${JSON.stringify(r.result)}`;
    await tx
      .updateTable('idempotency_keys')
      .set({ result: sql<string>`${value} end` })
      .where('app_id', '=', ref.appId)
      .where('scope', '=', ref.scope)
      .where(
        'key',
        'in',
        part.map((r) => r.key),
      )
      .execute();
  }
}

export interface NewMessage {
  conversationId: string;
  senderId: string;
  body: MessageBody;
}

/**
 * Appends messages in the given order. Invariant 3: each conversation's seqs are taken in one update of its
 * row (which holds the row until commit), so they stay gapless and in commit order; stream positions come
 * from the one counter row the same way.
 */
export async function appendMessages(
  tx: Tx,
  appId: string,
  messages: NewMessage[],
  now: number,
  writers: readonly EventWriter[] = [],
): Promise<EventsTable[]> {
  if (messages.length === 0) return [];
  const perConversation = new Map<string, number>();
  for (const m of messages)
    perConversation.set(m.conversationId, (perConversation.get(m.conversationId) ?? 0) + 1);

  const lastSeq = new Map<string, number>();
  for (const part of chunks([...perConversation])) {
    let increment = sql<number>`case ${sql.ref('id')}`;
    for (const [id, n] of part) increment = sql<number>`${increment} when ${id} then ${n}`;
    const rows = await tx
      .updateTable('conversations')
      .set((eb) => ({ last_seq: eb('last_seq', '+', sql<number>`${increment} end`) }))
      .where('app_id', '=', appId)
      .where(
        'id',
        'in',
        part.map(([id]) => id),
      )
      .returning(['id', 'last_seq'])
      .execute();
    for (const row of rows) lastSeq.set(row.id, Number(row.last_seq));
  }
  const counter = await tx
    .updateTable('counters')
    .set((eb) => ({ value: eb('value', '+', messages.length) }))
    .where('name', '=', 'pos')
    .returning('value')
    .executeTakeFirstOrThrow();

  // Hand out seqs from the first of each conversation's new range, in item order.
  const nextSeq = new Map<string, number>();
  for (const [id, n] of perConversation) {
    const last = lastSeq.get(id);
    if (last === undefined) throw new Error(`conversation ${id} vanished inside its transaction`);
    nextSeq.set(id, last - n + 1);
  }
  let pos = Number(counter.value) - messages.length + 1;
  const rows: EventsTable[] = messages.map((m) => {
    const seq = nextSeq.get(m.conversationId)!;
    nextSeq.set(m.conversationId, seq + 1);
    return {
      id: newId(),
      app_id: appId,
      conversation_id: m.conversationId,
      seq,
      pos: pos++,
      type: 'message.created',
      sender_id: m.senderId,
      body: JSON.stringify(m.body),
      client_msg_id: null,
      subject_id: null,
      created_at: now,
      recalled_at: null,
    };
  });
  for (const part of chunks(rows)) await tx.insertInto('events').values(part).execute();
  for (const write of writers) await write(tx, rows);
  return rows;
}
