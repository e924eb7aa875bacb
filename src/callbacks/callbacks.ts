// Inbound callbacks (seeds 000 and 003): verify the signature, parse the payload, and hand the message to
// ingest keyed by (source, msgId), so a callback retried any number of times creates one message.
import type { Clock } from '../clock.js';
import type { MessageBody } from '../conversations/events.js';
import { OncelyError } from '../errors.js';
import { sha256 } from '../idempotency/fingerprint.js';
import { findKey, type KeyRef } from '../idempotency/keys.js';
import { sourceScope } from '../idempotency/scope.js';
import { checkTextDepth } from '../ingest/body-limits.js';
import type { Ingest, SendCommand, SendResult } from '../ingest/ingest.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { Store } from '../store/store.js';
import type { CallbackSources } from './callback-sources.js';
import type { Participants } from './participants.js';
import { parseCallback, type InboundMessage } from './payload-formats.js';
import type { Rejections } from './rejections.js';
import type { SignatureHeaders } from './standard-webhooks.js';

export type CallbackAnswer =
  | { status: 'ok'; messageId: string; conversationId: string; seq: number }
  | { status: 'ignored'; reason: 'duplicate'; messageId: string; conflict?: true }
  | { status: 'ignored'; reason: string; detail: string };

/** A message body that remembers where it came from; still a text or custom body for every client. */
export type CallbackBody = MessageBody & { origin: { sourceId: string; msgId: string; sentAt?: string } };

export interface CallbacksOptions {
  store: Store;
  clock: Clock;
  ingest: Ingest;
  sources: CallbackSources;
  participants: Participants;
  rejections: Rejections;
  metrics: Metrics;
  logger: Logger;
}

export function createCallbacks(o: CallbacksOptions) {
  const { metrics } = o;

  async function reject(
    labels: { app: string; source: string },
    raw: Buffer,
    err: OncelyError,
    msgId?: string,
  ) {
    metrics.callbacksRejected.inc({ ...labels, reason: err.code });
    await o.rejections.record({
      appId: labels.app,
      sourceId: labels.source,
      reason: err.code,
      message: err.message,
      msgId,
      payload: raw,
    });
  }

  async function repeat(
    labels: { app: string; source: string },
    raw: Buffer,
    msg: InboundMessage,
    first: SendResult,
    sameFingerprint: boolean,
  ): Promise<CallbackAnswer> {
    if (sameFingerprint) {
      metrics.callbacksDuplicate.of(`${labels.app}\n${labels.source}`, labels).inc();
      return { status: 'ignored', reason: 'duplicate', messageId: first.id };
    }
    // Same msgId, other payload: a sender bug or an attack. Never merged; answered as a repeat, made visible.
    metrics.callbacksConflict.inc(labels);
    await o.rejections.record({
      appId: labels.app,
      sourceId: labels.source,
      reason: 'conflict',
      message: `msgId ${msg.msgId} was first received with another payload; the first is kept`,
      msgId: msg.msgId,
      messageId: first.id,
      payload: raw,
    });
    o.logger.warn(
      { source: labels.source, msgId: msg.msgId, messageId: first.id },
      'callback msgId reused with another payload',
    );
    return { status: 'ignored', reason: 'duplicate', messageId: first.id, conflict: true };
  }

  /** Sends the message into its conversation, making sure of its parties first unless `known` names it. */
  async function deliver(
    labels: { app: string; source: string },
    raw: Buffer,
    parsed: InboundMessage,
    ref: KeyRef,
    fingerprint: string,
    known: string | undefined,
  ): Promise<CallbackAnswer> {
    const { appId, key: msgId } = ref;
    const sourceId = labels.source;
    const origin: CallbackBody['origin'] = { sourceId, msgId };
    if (parsed.sentAt) origin.sentAt = parsed.sentAt;
    // Literals, not spreads: this runs for every callback, and a spread is the costlier copy.
    const body: CallbackBody =
      parsed.body.type === 'text'
        ? { type: 'text', text: parsed.body.text, origin }
        : { type: 'custom', data: parsed.body.data, origin };
    const idempotency = { appId, scope: ref.scope, key: ref.key, fingerprint };
    const command = (conversationId: string): SendCommand => ({
      appId,
      conversationId,
      senderId: parsed.from,
      body,
      idempotency,
      source: 'callback',
    });
    // First sight of a party: made in the message's own transaction (Ingest.sendWith), and kept only if the
    // message is created, so that a first sight losing its msgId to another (with another sender, say) leaves
    // no user or conversation behind, on whichever instance it ran.
    const sendMaking = async () => {
      const make = () =>
        o.ingest.sendWith(command(''), (tx) => o.participants.ensureIn(tx, appId, sourceId, parsed));
      let outcome;
      try {
        outcome = await make();
      } catch (err) {
        // The named group was made meanwhile by a concurrent first sight: once more, now finding it.
        if (!(err instanceof OncelyError) || err.code !== 'conversation_exists') throw err;
        outcome = await make();
      }
      if (outcome.status === 'created') o.participants.learn(appId, parsed, outcome.result.conversationId);
      return outcome;
    };
    try {
      let outcome;
      if (known === undefined) outcome = await sendMaking();
      else {
        try {
          outcome = await o.ingest.send(command(known));
        } catch (err) {
          // A party remembered as a member may have been removed since: forget, make sure again, once.
          if (!(err instanceof OncelyError) || err.code !== 'not_member') throw err;
          o.participants.forget(appId, parsed);
          outcome = await sendMaking();
        }
      }
      // Invariant 1: a concurrent twin that lost the claim lands here with the winner's answer.
      if (outcome.status !== 'created')
        return repeat(labels, raw, parsed, outcome.result, outcome.status === 'duplicate');
      const { id, seq } = outcome.result;
      return { status: 'ok', messageId: id, conversationId: outcome.result.conversationId, seq };
    } catch (err) {
      if (err instanceof OncelyError && err.status < 500) await reject(labels, raw, err, parsed.msgId);
      throw err;
    }
  }

  /** A msgId's record, if retained: one this process committed is known without a statement. */
  async function firstAnswer(ref: KeyRef): Promise<{ fingerprint: string; result: SendResult } | undefined> {
    const mine = o.ingest.committedKey(ref);
    if (mine) return mine;
    const stored = await findKey(o.store.db, ref, o.clock.now());
    return stored && { fingerprint: stored.fingerprint, result: JSON.parse(stored.result) as SendResult };
  }

  return {
    /** Handles one callback; throws OncelyError 4xx for refusals (after keeping malformed ones). */
    async receive(
      appId: string,
      sourceId: string,
      headers: SignatureHeaders,
      raw: Buffer,
    ): Promise<CallbackAnswer> {
      const source = await o.sources.resolve(appId, sourceId);
      const labels = { app: appId, source: sourceId };
      metrics.callbacksReceived.of(`${appId}\n${sourceId}`, labels).inc();
      try {
        source.verifier?.verify(raw, headers);
      } catch (err) {
        // A forged or stale callback leaves nothing behind but a count.
        if (err instanceof OncelyError) metrics.callbacksRejected.inc({ ...labels, reason: err.code });
        throw err;
      }

      let parsed;
      try {
        // Before the parser, which recurses: a hostile nesting must not reach it.
        checkTextDepth(raw.toString('utf8'), o.ingest.bodyLimits, 'the callback payload');
        parsed = parseCallback(source.format, raw);
      } catch (err) {
        if (err instanceof OncelyError) await reject(labels, raw, err);
        throw err;
      }
      if (parsed.kind === 'ignored') {
        metrics.callbacksIgnored.inc({ ...labels, reason: parsed.reason });
        return { status: 'ignored', reason: parsed.reason, detail: parsed.detail };
      }

      const ref = { appId, scope: sourceScope(sourceId), key: parsed.msgId };
      const fingerprint = sha256(raw);
      const known = o.participants.known(appId, parsed);
      if (known) return deliver(labels, raw, parsed, ref, fingerprint, known);
      // A repeat of a stored msgId is answered as such before any party is looked at (a first sight may
      // name someone the source may no longer add). Racing first sights are settled by the claim itself.
      const first = await firstAnswer(ref);
      if (first) {
        const same = first.fingerprint === fingerprint;
        // Ingest counts the repeats it sees itself; these never reach it.
        if (same) metrics.duplicates.of('callback', { source: 'callback' }).inc();
        else metrics.idempotencyConflicts.inc({ source: 'callback' });
        return repeat(labels, raw, parsed, first.result, same);
      }
      return deliver(labels, raw, parsed, ref, fingerprint, undefined);
    },
  };
}

export type Callbacks = ReturnType<typeof createCallbacks>;
