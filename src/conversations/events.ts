// Events: the sequenced records of a conversation, and the one place a seq and a stream position are taken.
import { newId } from '../clock.js';
import { notFound } from '../errors.js';
import type { EventType, EventsTable } from '../store/schema.js';
import { preparedQuery } from '../store/prepared-query.js';
import type { Tx } from '../store/store.js';
import type { MessageBody, WireEvent } from '../../client/protocol.js';

// The wire shapes are defined once, in the client library's protocol module, and shared with the server.
export type { MessageBody, WireEvent } from '../../client/protocol.js';

export function toWireEvent(row: EventsTable): WireEvent {
  const event: WireEvent = {
    id: row.id,
    type: row.type,
    conversationId: row.conversation_id,
    seq: Number(row.seq),
    senderId: row.sender_id,
    body: row.body === null ? null : (JSON.parse(row.body) as MessageBody),
    createdAt: new Date(Number(row.created_at)).toISOString(),
  };
  if (row.client_msg_id !== null) event.clientMsgId = row.client_msg_id;
  if (row.type === 'message.created' && row.recalled_at !== null) {
    event.recalled = true;
    event.recalledAt = new Date(Number(row.recalled_at)).toISOString();
  }
  if (row.type === 'message.recalled' && row.subject_id !== null) event.messageId = row.subject_id;
  if ((row.type === 'member.added' || row.type === 'member.removed') && row.subject_id !== null) {
    event.userId = row.subject_id;
  }
  return event;
}

/**
 * Runs inside the transaction that appended `events`, after their insert: what must commit with them (the
 * webhook outbox). May write; a throw rolls the transaction back.
 */
export type EventWriter = (tx: Tx, events: readonly EventsTable[]) => Promise<void>;

export interface NewEvent {
  appId: string;
  conversationId: string;
  type: EventType;
  senderId: string | null;
  body: MessageBody | null;
  clientMsgId?: string | undefined;
  subjectId?: string | undefined;
  now: number;
}

/**
 * Takes the conversation's next seq and the stream's next position and inserts the event, all inside the
 * caller's transaction. Invariant 3: the conversation row's update holds its lock until commit, so seqs
 * are gapless and in commit order; the single `pos` counter row does the same for the global stream.
 */
export async function appendEvent(
  tx: Tx,
  e: NewEvent,
  writers: readonly EventWriter[] = [],
): Promise<EventsTable> {
  const conv = (await nextSeqQuery(tx, { appId: e.appId, conversationId: e.conversationId })).rows[0];
  if (!conv) throw notFound('conversation_not_found', `conversation ${e.conversationId} does not exist`);
  const counter = (await nextPosQuery(tx, {})).rows[0];
  if (!counter) throw new Error('the pos counter row is missing');
  const row: EventsTable = {
    id: newId(),
    app_id: e.appId,
    conversation_id: e.conversationId,
    seq: Number(conv.last_seq),
    pos: Number(counter.value),
    type: e.type,
    sender_id: e.senderId,
    body: e.body === null ? null : JSON.stringify(e.body),
    client_msg_id: e.clientMsgId ?? null,
    subject_id: e.subjectId ?? null,
    created_at: e.now,
    recalled_at: null,
  };
  await insertEventQuery(tx, row);
  for (const write of writers) await write(tx, [row]);
  return row;
}

const nextSeqQuery = preparedQuery(['appId', 'conversationId'] as const, (db, p) =>
  db
    .updateTable('conversations')
    .set((eb) => ({ last_seq: eb('last_seq', '+', 1) }))
    .where('app_id', '=', p.appId)
    .where('id', '=', p.conversationId)
    .returning('last_seq'),
);

const nextPosQuery = preparedQuery([] as const, (db) =>
  db
    .updateTable('counters')
    .set((eb) => ({ value: eb('value', '+', 1) }))
    .where('name', '=', 'pos')
    .returning('value'),
);

const eventColumns = [
  'id',
  'app_id',
  'conversation_id',
  'seq',
  'pos',
  'type',
  'sender_id',
  'body',
  'client_msg_id',
  'subject_id',
  'created_at',
  'recalled_at',
] as const satisfies ReadonlyArray<keyof EventsTable>;

const insertEventQuery = preparedQuery(eventColumns, (db, p) => db.insertInto('events').values(p));
