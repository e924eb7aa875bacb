// The event log: the one function that appends events (messages from every entry point, member changes,
// recalls) and the one place a seq and a stream position are taken. Writes that must commit with every
// event — an outbox — plug in here once, as event writers.
import { sql } from 'kysely';
import { newId } from '../clock.js';
import { preparedRowsQuery } from '../store/prepared-query.js';
import type { ConversationRef, EventRow, Store, Tx } from '../store/store.js';
import type { EventType } from '../store/schema.js';
import type { MessageBody, WireEvent } from './events.js';

export interface NewEvent {
  appId: string;
  conversationId: string;
  type: EventType;
  senderId: string | null;
  body: MessageBody | null;
  clientMsgId?: string | undefined;
  /** message.recalled: the message; member.added / member.removed: the member. */
  subjectId?: string | undefined;
  /** Server id, when the caller made it already (UUIDv7, time-ordered); made here otherwise. */
  id?: string;
}

/** An event with its seq, before its stream position is taken. */
export interface SequencedEvent {
  appId: string;
  event: WireEvent;
}

/** An appended event: what the bus publishes after the commit. */
export interface AppendedEvent extends SequencedEvent {
  pos: number;
}

/**
 * Runs inside every event-appending transaction, once per append, with that append's event rows in order:
 * after their seqs are taken and before their positions are (`pos` is not set yet), so that whatever it
 * writes commits or rolls back with the events, and the position counter stays the last lock taken. The
 * event rows themselves are not inserted yet (no immediate foreign key to `events`). It should insert new
 * rows only (an outbox): a lock it took on existing rows would come after the conversations' in the lock
 * order of store.ts. A throw rolls the transaction back.
 */
export type EventWriter = (tx: Tx, events: readonly EventRow[]) => Promise<void>;

export interface EventLogOptions {
  store: Store;
  /** Extension point: writes that commit with every event. @defaultValue none */
  writers?: EventWriter[];
}

export interface EventLog {
  /**
   * Appends `events` in the given order inside the caller's transaction, at time `now`, and resolves to them
   * with their seqs and positions. Order of writes: the conversations' seqs (one update: each conversation's
   * next seqs follow its last one, in event order), then every EventWriter, then the positions and the event
   * rows (`Store.insertEvents`), last. The caller's own writes that need only ids and seqs (idempotency
   * answers) come before the call: ids may be given, and seqs are predictable under the conversation locks.
   * Invariant 3: the seq update holds each conversation row until commit, so seqs are gapless and in commit
   * order.
   */
  append(tx: Tx, events: NewEvent[], now: number): Promise<AppendedEvent[]>;
}

const refKey = (appId: string, conversationId: string) => `${appId}\n${conversationId}`;

/** Conversations of `items`, each once, in the global lock order (app id, then conversation id). */
export function sortedConversations(items: ConversationRef[]): ConversationRef[] {
  const unique = new Map<string, ConversationRef>();
  for (const { appId, conversationId } of items)
    unique.set(refKey(appId, conversationId), { appId, conversationId });
  return [...unique.values()].sort((a, b) =>
    a.appId !== b.appId
      ? a.appId < b.appId
        ? -1
        : 1
      : a.conversationId < b.conversationId
        ? -1
        : a.conversationId > b.conversationId
          ? 1
          : 0,
  );
}

/** Conversations per seq update statement: three bound parameters each. */
const seqChunk = 1000;

const takeSeqsQuery = preparedRowsQuery(
  ['appId', 'conversationId', 'n'] as const,
  [] as const,
  (_db, rows) =>
    sql<{ app_id: string; id: string; last_seq: number }>`
    update conversations set last_seq = conversations.last_seq + cast(v.column3 as integer)
    from (values ${sql.join(rows.map((r) => sql`(${r.appId}, ${r.conversationId}, ${r.n})`))}) as v
    where conversations.app_id = v.column1 and conversations.id = v.column2
    returning conversations.app_id, conversations.id, conversations.last_seq`,
);

export function createEventLog(options: EventLogOptions): EventLog {
  const { store } = options;
  const writers = options.writers ?? [];

  /** Raises each conversation's last_seq by its count of new events; returns the new last_seq of each. */
  async function takeSeqs(tx: Tx, counts: Map<string, ConversationRef & { n: number }>) {
    const last = new Map<string, number>();
    const sorted = sortedConversations([...counts.values()]).map((c) =>
      counts.get(refKey(c.appId, c.conversationId))!,
    );
    for (let i = 0; i < sorted.length; i += seqChunk) {
      const { rows } = await takeSeqsQuery(tx, sorted.slice(i, i + seqChunk));
      for (const row of rows) last.set(refKey(row.app_id, row.id), Number(row.last_seq));
    }
    return last;
  }

  return {
    async append(tx, events, now) {
      if (events.length === 0) return [];
      const counts = new Map<string, ConversationRef & { n: number }>();
      for (const e of events) {
        const key = refKey(e.appId, e.conversationId);
        const c = counts.get(key);
        if (c) c.n++;
        else counts.set(key, { appId: e.appId, conversationId: e.conversationId, n: 1 });
      }
      const last = await takeSeqs(tx, counts);
      // Hand out each conversation's new range from its first seq, in event order.
      const next = new Map<string, number>();
      for (const [key, c] of counts) {
        const lastSeq = last.get(key);
        if (lastSeq === undefined)
          throw new Error(`conversation ${c.conversationId} vanished inside its transaction`);
        next.set(key, lastSeq - c.n + 1);
      }
      const createdAt = new Date(now).toISOString();
      const rows: EventRow[] = [];
      const sequenced: SequencedEvent[] = events.map((e) => {
        const key = refKey(e.appId, e.conversationId);
        const seq = next.get(key)!;
        next.set(key, seq + 1);
        const row: EventRow = {
          id: e.id ?? newId(),
          app_id: e.appId,
          conversation_id: e.conversationId,
          seq,
          type: e.type,
          sender_id: e.senderId,
          body: e.body === null ? null : JSON.stringify(e.body),
          client_msg_id: e.clientMsgId ?? null,
          subject_id: e.subjectId ?? null,
          created_at: now,
          recalled_at: null,
        };
        rows.push(row);
        return { appId: e.appId, event: wireEvent(row, e.body, createdAt) };
      });
      for (const write of writers) await write(tx, rows);
      const first = await store.insertEvents(tx, rows);
      return sequenced.map((s, i) => ({ appId: s.appId, event: s.event, pos: first + i }));
    },
  };
}

/** The wire form of a new row, from the body object the caller has (no JSON round trip). */
function wireEvent(row: EventRow, body: MessageBody | null, createdAt: string): WireEvent {
  const event: WireEvent = {
    id: row.id,
    type: row.type,
    conversationId: row.conversation_id,
    seq: row.seq,
    senderId: row.sender_id,
    body,
    createdAt,
  };
  if (row.client_msg_id !== null) event.clientMsgId = row.client_msg_id;
  if (row.type === 'message.recalled' && row.subject_id !== null) event.messageId = row.subject_id;
  if ((row.type === 'member.added' || row.type === 'member.removed') && row.subject_id !== null) {
    event.userId = row.subject_id;
  }
  return event;
}
