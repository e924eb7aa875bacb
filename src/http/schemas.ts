// Request and response schemas, defined once: they validate requests, type the handlers and make the
// OpenAPI document.
import { Type, type Static, type TSchema } from '@sinclair/typebox';

/** Ids chosen by apps (users, conversations) and by the server. */
export const Id = Type.String({ minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9._:@+=~-]+$' });

// A `title` makes a schema one shared component of the OpenAPI document (http/openapi.ts).
export const ErrorBody = Type.Object(
  {
    error: Type.Object({
      code: Type.String({ description: 'stable, snake_case; what a program checks' }),
      message: Type.String({ description: 'for people: what went wrong and what was expected' }),
    }),
  },
  { title: 'Error' },
);

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

/** One batch item; also the body of a queue message (docs/design.md, "Inbound adapters"). */
export const BatchItem = Type.Object(
  {
    idempotencyKey: Type.String({ minLength: 1, maxLength: 255 }),
    from: Id,
    conversationId: Type.Optional(Id),
    to: Type.Optional(Id),
    body: MessageBody,
  },
  { additionalProperties: false, title: 'BatchItem' },
);

export const ClientMsgId = Type.String({ minLength: 1, maxLength: 128 });

export const Event = Type.Object(
  {
    id: Type.String(),
    type: Type.Union([
      Type.Literal('message.created'),
      Type.Literal('message.recalled'),
      Type.Literal('member.added'),
      Type.Literal('member.removed'),
    ]),
    conversationId: Type.String(),
    seq: Type.Integer(),
    senderId: Type.Union([Type.String(), Type.Null()]),
    body: Type.Union([Type.Object({}, { additionalProperties: true }), Type.Null()]),
    clientMsgId: Type.Optional(Type.String()),
    createdAt: Type.String(),
    recalled: Type.Optional(Type.Boolean()),
    recalledAt: Type.Optional(Type.String()),
    messageId: Type.Optional(Type.String()),
    userId: Type.Optional(Type.String()),
  },
  { title: 'Event' },
);

export const SendResult = Type.Object(
  {
    id: Type.String(),
    conversationId: Type.String(),
    seq: Type.Integer(),
    createdAt: Type.String(),
  },
  { title: 'SendResult' },
);

export const Conversation = Type.Object(
  {
    id: Type.String(),
    kind: Type.Union([Type.Literal('direct'), Type.Literal('group')]),
    title: Type.Union([Type.String(), Type.Null()]),
    members: Type.Array(Type.String()),
    lastSeq: Type.Integer(),
    createdAt: Type.String(),
  },
  { title: 'Conversation' },
);

export const Receipt = Type.Object(
  {
    conversationId: Type.String(),
    userId: Type.String(),
    deliveredSeq: Type.Integer(),
    readSeq: Type.Integer(),
  },
  { title: 'Receipt' },
);

/**
 * A response's own meaning in the OpenAPI document (where the status alone does not say it, as for a 200 beside
 * a 201), and the headers it carries. Documentation only: what is sent is still `schema`.
 */
export function described<T extends TSchema>(
  schema: T,
  description: string,
  headers?: Record<string, TSchema>,
): T {
  return { ...schema, 'x-response-description': description, ...(headers ? { headers } : {}) };
}

/** The error answers a route can give, for the OpenAPI document. */
export function errors(...statuses: number[]): Record<number, TSchema> {
  return Object.fromEntries(statuses.map((s) => [s, ErrorBody]));
}

export const bearer = [{ bearer: [] }];

export type MessageBodyT = Static<typeof MessageBody>;
