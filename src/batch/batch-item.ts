// The shape of one batch item on the wire, defined once: the batch route checks and documents each item with
// it, and a queue message is one such item (docs/design.md, "Inbound adapters").
import { Type } from '@sinclair/typebox';
import { Id, MessageBody } from '../../client/protocol.js';

// A `title` makes a schema one shared component of the OpenAPI document (http/openapi.ts).
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
