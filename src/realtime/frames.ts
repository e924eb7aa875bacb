// The WebSocket protocol's client frames (README "Realtime"; docs/design.md), defined once with TypeBox and
// compiled to one validator, plus the close codes the server uses.
import { Type, type Static } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { ClientMsgId, Id, MessageBody } from '../http/schemas.js';

const Seq = Type.Integer({ minimum: 0 });

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
  Type.Object({ type: Type.Literal('ping') }),
]);

export type ClientFrame = Static<typeof ClientFrame>;

const checker = TypeCompiler.Compile(ClientFrame);

/** Parses one text frame; returns the frame or a message saying what is wrong with it. */
export function parseClientFrame(data: string): { frame: ClientFrame } | { problem: string } {
  let value: unknown;
  try {
    value = JSON.parse(data);
  } catch {
    return { problem: 'the frame is not JSON' };
  }
  if (checker.Check(value)) return { frame: value };
  const type = (value as { type?: unknown } | null)?.type;
  const first = checker.Errors(value).First();
  return {
    problem:
      typeof type === 'string' && ['auth', 'send', 'resume', 'receipt', 'recall', 'ping'].includes(type)
        ? `invalid ${type} frame${first ? `: ${first.path || '/'} ${first.message}` : ''}`
        : 'unknown frame type: expected auth, send, resume, receipt, recall or ping',
  };
}

/** WebSocket close codes (README "Realtime"). */
export const CloseCode = {
  /** The server is shutting down; reconnect and resume. */
  goingAway: 1001,
  /** The store failed while streaming; reconnect and resume. */
  internalError: 1011,
  /** The connection's unsent buffer passed the limit; reconnect and resume. */
  slowConsumer: 4008,
  /** Missing, forged or expired token, no auth frame in time, or not a user token. */
  unauthorized: 4401,
  /** The `?cursor=` of the upgrade URL is not one this server issued. */
  invalidCursor: 4400,
  /** The user already holds the most connections allowed; the new one is refused. */
  tooManyConnections: 4429,
} as const;
