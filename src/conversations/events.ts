// Events: the sequenced records of a conversation, and their wire form. They are appended only through the
// event log (event-log.ts), the one place a seq and a stream position are taken.
import type { EventsTable } from '../store/schema.js';
import type { MessageBody, WireEvent } from '../../client/protocol.js';

// The wire shapes are defined once, in the client library's protocol module, and shared with the server.
export type { MessageBody, WireEvent } from '../../client/protocol.js';

/** A stored event; `expired_at` may be left out where the read cannot see an expired message. */
export type EventRecord = Omit<EventsTable, 'expired_at'> & { expired_at?: number | null };

export function toWireEvent(row: EventRecord): WireEvent {
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
  // A recalled message stays `recalled` if it later expires: the recall is what its sender did.
  if (row.type === 'message.created' && row.expired_at != null && row.recalled_at === null)
    event.expired = true;
  if (row.type === 'message.recalled' && row.subject_id !== null) event.messageId = row.subject_id;
  if ((row.type === 'member.added' || row.type === 'member.removed') && row.subject_id !== null) {
    event.userId = row.subject_id;
  }
  return event;
}
