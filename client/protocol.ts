// The wire protocol, defined once: the shapes of events, receipts and WebSocket frames as TypeBox schemas.
// The server validates client frames and builds its REST schemas from them; the client library takes their
// types (`import type` only, so the library carries no TypeBox at run time). Close codes: close-codes.ts.
import { Type, type Static } from '@sinclair/typebox';

/** Ids chosen by apps (users, conversations) and by the server. */
export const Id = Type.String({ minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9._:@+=~-]+$' });

/** A sender's own id for a message: its idempotency key in the user's scope. */
export const ClientMsgId = Type.String({ minLength: 1, maxLength: 128 });

const Seq = Type.Integer({ minimum: 0 });

// A `title` makes a schema one shared component of the OpenAPI document (src/http/openapi.ts).
export const MessageBody = Type.Union(
  [
    Type.Object(
      { type: Type.Literal('text'), text: Type.String({ minLength: 1 }) },
      { additionalProperties: false },
    ),
    Type.Object({ type: Type.Literal('custom'), data: Type.Unknown() }, { additionalProperties: false }),
  ],
  {
    title: 'MessageBody',
    description: 'a message body: {"type":"text","text":"…"} or {"type":"custom","data":…}',
  },
);
export type MessageBody = Static<typeof MessageBody>;

export const EventType = Type.Union([
  Type.Literal('message.created'),
  Type.Literal('message.recalled'),
  Type.Literal('member.added'),
  Type.Literal('member.removed'),
]);
export type EventType = Static<typeof EventType>;

/** The fields of a sequenced event, as history, sync and the WebSocket show it. */
export const wireEventFields = {
  id: Type.String(),
  type: EventType,
  conversationId: Type.String(),
  seq: Type.Integer(),
  senderId: Type.Union([Type.String(), Type.Null()]),
  body: Type.Union([MessageBody, Type.Null()]),
  clientMsgId: Type.Optional(Type.String()),
  createdAt: Type.String(),
  recalled: Type.Optional(Type.Boolean()),
  recalledAt: Type.Optional(Type.String()),
  /** message.created: older than its conversation's retention; the body is erased (null). */
  expired: Type.Optional(Type.Boolean()),
  /** message.recalled: the message recalled. */
  messageId: Type.Optional(Type.String()),
  /** member.added / member.removed: the member. */
  userId: Type.Optional(Type.String()),
};
export const WireEvent = Type.Object(wireEventFields);
export type WireEvent = Static<typeof WireEvent>;

/** A change of one member's delivered/read markers (not sequenced). */
export const Receipt = Type.Object(
  {
    conversationId: Type.String(),
    userId: Type.String(),
    deliveredSeq: Type.Integer(),
    readSeq: Type.Integer(),
  },
  { title: 'Receipt' },
);
export type Receipt = Static<typeof Receipt>;

/** The answer to a send: the message as stored; `duplicate` when the clientMsgId was seen before. */
export const SentAnswer = Type.Object({
  clientMsgId: Type.String(),
  id: Type.String(),
  seq: Type.Integer(),
  duplicate: Type.Boolean(),
});
export type SentAnswer = Static<typeof SentAnswer>;

/** Frames a client sends (README "Realtime"). */
export const ClientFrame = Type.Union([
  Type.Object({ type: Type.Literal('auth'), token: Type.String({ minLength: 1, maxLength: 4096 }) }),
  Type.Object({
    type: Type.Literal('send'),
    clientMsgId: ClientMsgId,
    conversationId: Id,
    body: MessageBody,
  }),
  Type.Object({ type: Type.Literal('resume'), cursor: Type.String({ maxLength: 256 }) }),
  Type.Object({
    type: Type.Literal('receipt'),
    conversationId: Id,
    deliveredSeq: Type.Optional(Seq),
    readSeq: Type.Optional(Seq),
  }),
  Type.Object({ type: Type.Literal('recall'), messageId: Id }),
  Type.Object({ type: Type.Literal('typing'), conversationId: Id }),
  Type.Object({ type: Type.Literal('ping') }),
]);
export type ClientFrame = Static<typeof ClientFrame>;

/** Frames the server sends (README "Realtime"). */
export const ServerFrame = Type.Union([
  Type.Object({ type: Type.Literal('ready'), userId: Type.String(), cursor: Type.String() }),
  /** The answer to an `auth` frame with a fresh token: the connection now lasts until `expiresAt`. */
  Type.Object({
    type: Type.Literal('authenticated'),
    userId: Type.String(),
    expiresAt: Type.Optional(Type.String()),
  }),
  Type.Object({ type: Type.Literal('event'), event: WireEvent, cursor: Type.String() }),
  Type.Object({ type: Type.Literal('receipt.updated'), receipt: Receipt }),
  Type.Object({ type: Type.Literal('sent'), ...SentAnswer.properties }),
  Type.Object({
    type: Type.Literal('error'),
    code: Type.String(),
    message: Type.String(),
    clientMsgId: Type.Optional(Type.String()),
  }),
  /** Another member is typing in the conversation (show it for a few seconds). Not sequenced. */
  Type.Object({ type: Type.Literal('typing'), conversationId: Type.String(), userId: Type.String() }),
  /** A member's first session opened (online) or last one closed; `at` is an ISO time. Not sequenced. */
  Type.Object({
    type: Type.Literal('presence'),
    userId: Type.String(),
    online: Type.Boolean(),
    at: Type.String(),
  }),
  Type.Object({ type: Type.Literal('pong') }),
]);
export type ServerFrame = Static<typeof ServerFrame>;
