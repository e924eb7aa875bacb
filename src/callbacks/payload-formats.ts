// Callback payload formats: the raw body of a callback → the message it carries, or why it carries none.
// `generic` is seed 000's `{msgId, from, to, timestamp, content, conversationId?}`; `gewechat` is seed 003's
// `TypeName:"AddMsg"` shape. Bodies are parsed losslessly, so 64-bit message ids keep all their digits.
import { isSafeNumber, parse } from 'lossless-json';
import { OncelyError } from '../errors.js';
import type { MessageBody } from '../conversations/events.js';
import { prototypeKeyMessage, textHoldsPrototypeKey } from '../ingest/prototype-keys.js';

export type CallbackFormat = 'generic' | 'gewechat';

export interface InboundMessage {
  kind: 'message';
  /** The dedup key within the source, as text with every digit. */
  msgId: string;
  from: string;
  /** The other party of a direct conversation; with a group, a receiver to make a member too. */
  to?: string;
  /** A group: created on first sight, its senders (and receiver) added as members. */
  groupId?: string;
  body: MessageBody;
  /** When the sender sent it, by the sender's clock. */
  sentAt?: string;
}

export interface IgnoredCallback {
  kind: 'ignored';
  /** A bounded set of reasons (a metric label). */
  reason: 'unsupported_type' | 'no_sender';
  detail: string;
}

export type ParsedCallback = InboundMessage | IgnoredCallback;

// Ids become user and conversation ids: the same rule as the API's ids.
const idPattern = /^[A-Za-z0-9._:@+=~-]{1,128}$/;

const invalid = (message: string) => OncelyError.of('invalid_payload', message);

/** JSON where an integer beyond 2^53 stays its digit string instead of being rounded. */
export function parseLossless(raw: Buffer): unknown {
  const text = raw.toString('utf8');
  // The parser would make a `__proto__` key the object's prototype: refused as on REST and WebSocket.
  if (textHoldsPrototypeKey(text)) throw invalid(prototypeKeyMessage);
  try {
    return parse(text, null, (number) => (isSafeNumber(number) ? Number(number) : number));
  } catch (err) {
    throw invalid(`the body is not valid JSON: ${(err as Error).message}`);
  }
}

function record(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw invalid(`${what} must be an object`);
  return value as Record<string, unknown>;
}

function id(value: unknown, what: string): string {
  if (typeof value !== 'string' || !idPattern.test(value)) {
    throw invalid(`${what} must be 1 to 128 characters of A-Z a-z 0-9 . _ : @ + = ~ -`);
  }
  return value;
}

/** A message id given as a JSON string or integer; integers arrive as digit strings when unsafe. */
function msgId(value: unknown, what: string): string {
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return String(value);
  if (typeof value === 'string' && value.length > 0 && value.length <= 255) return value;
  throw invalid(`${what} must be a non-empty string or a non-negative integer`);
}

/**
 * Gewechat's NewMsgId, a JSON integer (64-bit, so often past 2^53 and kept as its digits). Anything written
 * otherwise (`…807.0`, `1.5`, `1e3` past 2^53) is refused: it names no one integer, so it cannot key dedup.
 */
function integerMsgId(value: unknown, what: string): string {
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return String(value);
  if (typeof value === 'string' && /^[0-9]{1,20}$/.test(value)) return value;
  throw invalid(`${what} must be a non-negative integer`);
}

function isoFrom(ms: number): string | undefined {
  const date = new Date(ms);
  return Number.isNaN(date.getTime()) ? undefined : date.toISOString();
}

function parseGeneric(payload: Record<string, unknown>): InboundMessage {
  const from = id(payload.from, 'from');
  const to = payload.to === undefined || payload.to === null ? undefined : id(payload.to, 'to');
  const groupId =
    payload.conversationId === undefined || payload.conversationId === null
      ? undefined
      : id(payload.conversationId, 'conversationId');
  if (!to && !groupId) throw invalid('a callback names "to" or "conversationId"');
  if (to === from && !groupId) throw invalid('"from" and "to" must differ');
  const { content } = payload;
  let body: MessageBody;
  if (typeof content === 'string' && content.length > 0) body = { type: 'text', text: content };
  else if (typeof content === 'object' && content !== null) body = { type: 'custom', data: content };
  else throw invalid('content must be a non-empty string or an object');
  const message: InboundMessage = { kind: 'message', msgId: msgId(payload.msgId, 'msgId'), from, body };
  if (groupId) message.groupId = groupId;
  if (to) message.to = to;
  if (typeof payload.timestamp === 'number') {
    const sentAt = isoFrom(payload.timestamp);
    if (sentAt) message.sentAt = sentAt;
  }
  return message;
}

const chatroomSuffix = '@chatroom';

/** `{"string": "…"}`, gewechat's wrapper around text fields. */
function wrapped(value: unknown, what: string): string {
  const inner = record(value, what).string;
  if (typeof inner !== 'string') throw invalid(`${what}.string must be a string`);
  return inner;
}

/**
 * Gewechat AddMsg. A chat room (an id ending in `@chatroom`) becomes a group of that id; a room message's
 * content is `sender:\ntext`, so the sender is taken from that prefix. Anything else is a direct message
 * from FromUserName to ToUserName. MsgType 1 is text; other types are kept as custom bodies.
 */
function parseGewechat(payload: Record<string, unknown>): ParsedCallback {
  const typeName = payload.TypeName;
  if (typeof typeName !== 'string') throw invalid('TypeName must be a string');
  if (typeName !== 'AddMsg')
    return { kind: 'ignored', reason: 'unsupported_type', detail: `TypeName ${typeName}` };
  const data = record(payload.Data, 'Data');
  const fromUser = id(wrapped(data.FromUserName, 'Data.FromUserName'), 'Data.FromUserName.string');
  const toUser = id(wrapped(data.ToUserName, 'Data.ToUserName'), 'Data.ToUserName.string');
  let content = data.Content === undefined ? '' : wrapped(data.Content, 'Data.Content');
  const message: Omit<InboundMessage, 'body' | 'from'> = {
    kind: 'message',
    msgId: integerMsgId(data.NewMsgId, 'Data.NewMsgId'),
  };
  let from = fromUser;
  if (fromUser.endsWith(chatroomSuffix)) {
    const match = /^([^:\n]+):\n/.exec(content);
    if (!match || !idPattern.test(match[1]!)) {
      return {
        kind: 'ignored',
        reason: 'no_sender',
        detail: 'a chat room message without a "sender:" prefix',
      };
    }
    from = match[1]!;
    content = content.slice(match[0].length);
    message.groupId = fromUser;
    // The receiving account is in the room too.
    if (toUser !== from) message.to = toUser;
  } else if (toUser.endsWith(chatroomSuffix)) {
    message.groupId = toUser;
  } else {
    if (fromUser === toUser) throw invalid('FromUserName and ToUserName must differ');
    message.to = toUser;
  }
  const msgType = data.MsgType;
  const body: MessageBody =
    msgType === 1 && content.length > 0
      ? { type: 'text', text: content }
      : { type: 'custom', data: { msgType: msgType ?? null, content } };
  const result: InboundMessage = { ...message, from, body };
  if (typeof data.CreateTime === 'number') {
    const sentAt = isoFrom(data.CreateTime * 1000);
    if (sentAt) result.sentAt = sentAt;
  }
  return result;
}

/** Throws 400 `invalid_payload` with the reason when the body is not a callback of this format. */
export function parseCallback(format: CallbackFormat, raw: Buffer): ParsedCallback {
  const payload = record(parseLossless(raw), 'the body');
  return format === 'gewechat' ? parseGewechat(payload) : parseGeneric(payload);
}
