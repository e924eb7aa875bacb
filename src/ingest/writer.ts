// The writer: one group of sends — single sends sharing a group commit, or a batch; any apps, scopes and
// entry points — written inside the caller's transaction with a fixed number of set-based statements,
// however many sends the group holds. Every entry point's messages are written here.
import { newId } from '../clock.js';
import type { AppendedEvent, EventLog } from '../conversations/event-log.js';
import { sortedConversations } from '../conversations/event-log.js';
import type { MessageBody } from '../conversations/events.js';
import { OncelyError } from '../errors.js';
import {
  claimKeys,
  findKeyRecords,
  keyId,
  storeResults,
  type KeyRecord,
  type KeyRef,
} from '../idempotency/keys.js';
import type { Store, Tx } from '../store/store.js';
import { checkAccess } from './send-access.js';

export interface SendCommand {
  appId: string;
  conversationId: string;
  senderId: string;
  body: MessageBody;
  clientMsgId?: string | undefined;
  /** The key guarding this send, with the fingerprint of its payload. */
  idempotency?: (KeyRef & { fingerprint: string }) | undefined;
  /** Entry point, for metrics: rest, ws, batch, callback, queue. */
  source: string;
}

/** The answer to a send; what a repeat of the key gets back. */
export interface SendResult {
  id: string;
  conversationId: string;
  seq: number;
  createdAt: string;
}

export type SendOutcome =
  | { status: 'created'; result: SendResult; appended: AppendedEvent; firstSeenAt: number }
  /** A repeat of the key with the same payload. */
  | { status: 'duplicate'; result: SendResult; firstSeenAt: number }
  /** The key was first used with another payload; `result` is that first answer. */
  | { status: 'reused'; result: SendResult; firstSeenAt: number };

/** Per send: its outcome, or the refusal (an OncelyError) that wrote nothing for it. */
export type WriteOutcome = { ok: true; value: SendOutcome } | { ok: false; error: OncelyError };

/** Thrown (rolling the transaction back) by an all-or-nothing write in which some send was refused. */
export class WriteRefused extends Error {
  constructor(readonly outcomes: WriteOutcome[]) {
    super('a send of an all-or-nothing group was refused');
  }
}

export interface Writer {
  /**
   * Writes `sends` (in this order) inside `tx` at time `now`. A refused send (unknown conversation, sender
   * not a member) writes nothing and the others go on; with `allOrNothing`, a refusal or a reused key
   * throws WriteRefused before anything is written. Invariant 1: each key's claim commits with its message.
   */
  write(
    tx: Tx,
    sends: SendCommand[],
    now: number,
    options?: { allOrNothing?: boolean },
  ): Promise<WriteOutcome[]>;
}

export interface WriterOptions {
  store: Store;
  events: EventLog;
  idempotencyTtlSeconds: number;
}

function replay(record: KeyRecord, fp: string): SendOutcome {
  const result = JSON.parse(record.result) as SendResult;
  const firstSeenAt = Number(record.created_at);
  return record.fingerprint === fp
    ? { status: 'duplicate', result, firstSeenAt }
    : { status: 'reused', result, firstSeenAt };
}

const aborted = () => OncelyError.of('internal_error', 'a send was left without an outcome');
const busy = () => OncelyError.of('idempotency_key_busy', 'the key is being claimed concurrently; retry');

export function createWriter(options: WriterOptions): Writer {
  const { store, events } = options;
  const ttlMs = options.idempotencyTtlSeconds * 1000;

  return {
    async write(tx, sends, now, opts = {}) {
      if (sends.length === 0) return [];
      const outcomes: Array<WriteOutcome | undefined> = new Array(sends.length);
      const createdAt = new Date(now).toISOString();
      // Lock order, first: the conversations, so that the membership and last seqs read next hold until
      // commit (store.ts).
      await store.lockConversations(tx, sortedConversations(sends));
      const { refusals, lastSeq } = await checkAccess(tx, sends);

      // Each send's key and conversation as strings, made once: a batch looks them up several times each.
      const keyIds = sends.map((s) => (s.idempotency ? keyId(s.idempotency) : undefined));
      const convOf = sends.map((s) => `${s.appId}\n${s.conversationId}`);

      // The first permitted send of each key claims it; later sends of the key in this group follow it.
      const leaderOf = new Map<string, number>();
      const followers: number[] = [];
      for (let i = 0; i < sends.length; i++) {
        const id = keyIds[i];
        if (id === undefined || refusals[i]) continue;
        if (leaderOf.has(id)) followers.push(i);
        else leaderOf.set(id, i);
      }
      const isWriter = (i: number) => {
        const id = keyIds[i];
        return !refusals[i] && (id === undefined || leaderOf.get(id) === i);
      };

      // Each message's id and seq are known before anything is written: ids are made here, and seqs follow
      // the conversation's last seq in group order. So the claims carry their answers, assuming each wins.
      const ids = sends.map(() => newId());
      const resultOf = (i: number, seq: number): SendResult => ({
        id: ids[i]!,
        conversationId: sends[i]!.conversationId,
        seq,
        createdAt,
      });
      const seqsFor = (writing: number[]) => {
        const next = new Map<string, number>();
        return writing.map((i) => {
          const conv = convOf[i]!;
          const seq = (next.get(conv) ?? lastSeq.get(conv)!) + 1;
          next.set(conv, seq);
          return seq;
        });
      };
      const hoped: number[] = [];
      for (let i = 0; i < sends.length; i++) if (isWriter(i)) hoped.push(i);
      const hopedSeqs = new Map(seqsFor(hoped).map((seq, n) => [hoped[n]!, seq]));
      const claims = [...leaderOf.values()].map((i) => ({
        appId: sends[i]!.idempotency!.appId,
        scope: sends[i]!.idempotency!.scope,
        key: sends[i]!.idempotency!.key,
        fingerprint: sends[i]!.idempotency!.fingerprint,
        result: JSON.stringify(resultOf(i, hopedSeqs.get(i)!)),
      }));
      const allClaimed = await claimKeys(tx, claims, now, ttlMs);

      // Keys held by live records: leaders' keys when some claim lost (each claim's own answer tells it
      // apart), and keys of refused sends answered before (a repeat is answered even if the sender has
      // left since).
      const refusedRepeats = sends.flatMap((s, i) =>
        s.idempotency && refusals[i] && !leaderOf.has(keyIds[i]!) ? [s.idempotency] : [],
      );
      const lookup = allClaimed ? refusedRepeats : [...claims, ...refusedRepeats];
      const records =
        lookup.length > 0 ? await findKeyRecords(tx, lookup, now) : new Map<string, KeyRecord>();
      // When every claim won, every leader holds its key.
      const held = new Set<string>();
      if (!allClaimed) {
        for (const c of claims) {
          const id = keyId(c);
          if (records.get(id)?.result === c.result) {
            held.add(id);
            records.delete(id);
          }
        }
      }

      const writing: number[] = [];
      sends.forEach((s, i) => {
        const refusal = refusals[i];
        const key = s.idempotency;
        const id = keyIds[i];
        const record = key && records.size > 0 ? records.get(id!) : undefined;
        if (refusal) {
          outcomes[i] = record
            ? { ok: true, value: replay(record, key!.fingerprint) }
            : { ok: false, error: refusal };
        } else if (id === undefined || (leaderOf.get(id) === i && (allClaimed || held.has(id)))) {
          writing.push(i);
        } else if (leaderOf.get(id) === i) {
          // Lost the claim: a repeat of a committed send, or (no record) one still being written elsewhere.
          outcomes[i] = record
            ? { ok: true, value: replay(record, key!.fingerprint) }
            : { ok: false, error: busy() };
        }
      });
      if (opts.allOrNothing && outcomes.some((o) => o && (!o.ok || o.value.status === 'reused'))) {
        throw new WriteRefused(outcomes.map((o) => o ?? { ok: false, error: aborted() }));
      }

      // A lost claim leaves a gap in the hoped-for seqs: the claims after it in its conversation get their
      // answers again (rare: a repeat in the same group as a new send to the same conversation after it).
      const seqs = seqsFor(writing);
      const moved = writing.flatMap((i, n) =>
        sends[i]!.idempotency && seqs[n] !== hopedSeqs.get(i)
          ? [{ ref: sends[i]!.idempotency!, result: resultOf(i, seqs[n]!) }]
          : [],
      );
      if (moved.length > 0) await storeResults(tx, moved);

      const appended = await events.append(
        tx,
        writing.map((i) => {
          const s = sends[i]!;
          return {
            id: ids[i],
            appId: s.appId,
            conversationId: s.conversationId,
            type: 'message.created' as const,
            senderId: s.senderId,
            body: s.body,
            clientMsgId: s.clientMsgId,
          };
        }),
        now,
      );
      writing.forEach((i, n) => {
        const a = appended[n]!;
        // The answers were written with these seqs: the log must have given the same (invariant 3).
        if (a.event.seq !== seqs[n]) throw new Error('a seq differs from the one its answer was stored with');
        outcomes[i] = {
          ok: true,
          value: { status: 'created', result: resultOf(i, seqs[n]!), appended: a, firstSeenAt: now },
        };
      });

      // Later sends of a key claimed in this group: repeats of the first, judged by their own payload.
      for (const i of followers) {
        const key = sends[i]!.idempotency!;
        const leader = leaderOf.get(keyIds[i]!)!;
        const led = outcomes[leader]!;
        const record = records.get(keyIds[i]!);
        if (record) outcomes[i] = { ok: true, value: replay(record, key.fingerprint) };
        else if (led.ok) {
          const same = sends[leader]!.idempotency!.fingerprint === key.fingerprint;
          outcomes[i] = {
            ok: true,
            value: { status: same ? 'duplicate' : 'reused', result: led.value.result, firstSeenAt: now },
          };
        } else outcomes[i] = led;
      }
      return outcomes.map((o) => o ?? { ok: false, error: aborted() });
    },
  };
}
