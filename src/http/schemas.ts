// Request and response schemas, defined once: they validate requests, type the handlers and make the
// OpenAPI document.
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { MessageBody, wireEventFields } from '../../client/protocol.js';
import { errorCatalogue, type ErrorCode } from '../errors.js';

// The wire shapes shared with the WebSocket protocol and the client library are defined in its one module.
export { ClientMsgId, EventType, Id, MessageBody, Receipt } from '../../client/protocol.js';
export { BatchItem } from '../batch/batch-item.js';

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

/**
 * An event in a response: the protocol's event, whose stored body is written out as it is — it was checked
 * on the way in, and one object schema serialises without trying each branch of MessageBody.
 */
export const Event = Type.Object(
  { ...wireEventFields, body: Type.Union([Type.Object({}, { additionalProperties: true }), Type.Null()]) },
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
    retentionSeconds: Type.Integer({
      description: 'Seconds a message is kept before its body is erased (expired); 0: forever',
    }),
  },
  { title: 'Conversation' },
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

/** What checking a bearer token can refuse, by the kind of token the route takes (http/auth.ts). */
const credentials = [
  'missing_token',
  'invalid_authorization',
  'invalid_token',
  'invalid_api_key',
  'token_expired',
  'token_not_yet_valid',
] as const satisfies readonly ErrorCode[];
export const asAdmin = [...credentials, 'admin_only'] as const;
export const asApp = [...credentials, 'app_key_required'] as const;
export const asUser = [...credentials, 'user_token_required'] as const;
export const asActor = [...credentials, 'app_or_user_required'] as const;
export const asAdminOrApp = [...credentials, 'admin_or_own_app_required'] as const;

/** A bulleted list of codes and their meaning (errors.ts), for an OpenAPI description. */
export function describeCodes(codes: readonly ErrorCode[]): string {
  return codes.map((code) => `- \`${code}\`: ${errorCatalogue[code].meaning}`).join('\n');
}

/**
 * The error answers a route can give, by code: one response per status the catalogue gives them, described in
 * the OpenAPI document by its codes and what each means.
 */
export function errors(...codes: (ErrorCode | readonly ErrorCode[])[]): Record<number, TSchema> {
  const byStatus = new Map<number, ErrorCode[]>();
  for (const code of new Set(codes.flat())) {
    const { status } = errorCatalogue[code];
    byStatus.set(status, [...(byStatus.get(status) ?? []), code]);
  }
  return Object.fromEntries(
    [...byStatus].map(([status, ofStatus]) => [status, described(ErrorBody, describeCodes(ofStatus))]),
  );
}

export const bearer = [{ bearer: [] }];

export type MessageBodyT = Static<typeof MessageBody>;
