// "Send as actor": a send by an app (on behalf of `from`) or by a user, over REST or WebSocket, turned into
// the one keyed send command — who the sender is, which scope its key belongs to, the payload fingerprint.
import type { Actor } from '../apps/principal.js';
import type { MessageBody } from '../conversations/events.js';
import { OncelyError } from '../errors.js';
import { fingerprint } from '../idempotency/fingerprint.js';
import { appScope, userScope } from '../idempotency/scope.js';
import type { SendCommand, SendOutcome, SendResult } from './writer.js';

export interface ActorSend {
  actor: Actor;
  conversationId: string;
  /** The sender an app sends for; a user sends as itself (a `from` naming someone else is refused). */
  from?: string | undefined;
  body: MessageBody;
  clientMsgId?: string | undefined;
  /** REST's `Idempotency-Key` header; without it the `clientMsgId`, if any, is the key. */
  idempotencyKey?: string | undefined;
  /** Entry point, for metrics. */
  source: 'rest' | 'ws';
}

/** A new message, or (`duplicate`) the first answer of its key replayed. */
export interface ActorSendAnswer {
  result: SendResult;
  duplicate: boolean;
}

const maxKeyLength = 255;

export function actorCommand(input: ActorSend): SendCommand {
  const { actor, from, body, clientMsgId, conversationId } = input;
  let senderId: string;
  if (actor.kind === 'app') {
    if (!from) throw OncelyError.of('missing_from', 'an app sends on behalf of a user: set "from"');
    senderId = from;
  } else {
    if (from !== undefined && from !== actor.userId)
      throw OncelyError.of('from_mismatch', 'a user sends as itself');
    senderId = actor.userId;
  }
  const headerKey = input.idempotencyKey;
  if (headerKey !== undefined && (headerKey.length === 0 || headerKey.length > maxKeyLength)) {
    throw OncelyError.of(
      'invalid_idempotency_key',
      `Idempotency-Key must be 1 to ${maxKeyLength} characters`,
    );
  }
  // An app's keys are unique among the app's; a user's keys and clientMsgIds among that user's. A retry over
  // REST or WebSocket with the same clientMsgId is therefore one message.
  const scope = headerKey !== undefined && actor.kind === 'app' ? appScope : userScope(senderId);
  const key = headerKey ?? clientMsgId;
  return {
    appId: actor.appId,
    conversationId,
    senderId,
    body,
    clientMsgId,
    idempotency:
      key === undefined
        ? undefined
        : {
            appId: actor.appId,
            scope,
            key,
            fingerprint: fingerprint({ conversationId, senderId, body, clientMsgId }),
          },
    source: input.source,
  };
}

/** The answer to an actor's send; a key first used with another payload is `422 idempotency_key_reused`. */
export function actorAnswer(input: ActorSend, outcome: SendOutcome): ActorSendAnswer {
  if (outcome.status === 'reused') {
    const what = input.idempotencyKey !== undefined ? 'Idempotency-Key' : 'clientMsgId';
    throw OncelyError.of('idempotency_key_reused', `this ${what} was used with a different message`);
  }
  return { result: outcome.result, duplicate: outcome.status === 'duplicate' };
}
