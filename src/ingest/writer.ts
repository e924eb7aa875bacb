// The writer: one group of sends — single sends sharing a group commit, or a batch; any apps, scopes and
// entry points — written inside the caller's transaction with a fixed number of set-based statements,
// however many sends the group holds. Every entry point's messages are written here.
import { sql } from 'kysely';
import { newId } from '../clock.js';
import type { AppendedEvent, EventLog } from '../conversations/event-log.js';
import { sortedConversations } from '../conversations/event-log.js';
import type { MessageBody, WireEvent } from '../conversations/events.js';
import { OncelyError } from '../errors.js';
import {
  claimKeys,
  findKeyRecords,
  keyId,
  storeResults,
  type KeyRecord,
  type KeyRef,
} from '../idempotency/keys.js';
import { preparedRowsQuery } from '../store/prepared-query.js';
import type { Store, Tx } from '../store/store.js';

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

/** Sender checks per statement: three bound parameters each. */
const chunkSize = 1000;

// Joined with a VALUES list of the exact (app, conversation, sender) triples: one lookup each.
const accessQuery = preparedRowsQuery(
  ['appId', 'conversationId', 'senderId'] as const,
  [] as const,
  (_db, rows) =>
    sql<{
      app_id: string;
      conversation_id: string;
      sender_id: string;
      found: string | null;
      member: string | null;
    }>`
    select v.column1 as app_id, v.column2 as conversation_id, v.column3 as sender_id,
      c.id as found, m.user_id as member
    from (values ${sql.join(rows.map((r) => sql`(${r.appId}, ${r.conversationId}, ${r.senderId})`))}) as v
    left join conversations as c on c.app_id = v.column1 and c.id = v.column2
    left join members as m on m.app_id = v.column1 and m.conversation_id = v.column2
      and m.user_id = v.column3 and m.left_pos is null`,
);

function replay(record: KeyRecord, fp: string): SendOutcome {
  const result = JSON.parse(record.result) as SendResult;
  const firstSeenAt = Number(record.created_at);
  return record.fingerprint === fp
    ? { status: 'duplicate', result, firstSeenAt }
    : { status: 'reused', result, firstSeenAt };
}

export function createWriter(options: WriterOptions): Writer {
  const { store, events } = options;
  const ttlMs = options.idempotencyTtlSeconds * 1000;

  /** For each send: null when its sender may write to its conversation, else the refusal. */
  async function access(tx: Tx, sends: SendCommand[]): Promise<Array<OncelyError | null>> {
    const triples = new Map<string, SendCommand>();
    for (const s of sends) triples.set(`${s.appId}\n${s.conversationId}\n${s.senderId}`, s);
    const found = new Map<string, { conversation: boolean; member: boolean }>();
    const all = [...triples.values()];
    for (let i = 0; i < all.length; i += chunkSize) {
      const { rows } = await accessQuery(tx, all.slice(i, i + chunkSize));
      for (const r of rows) {
        found.set(`${r.app_id}\n${r.conversation_id}\n${r.sender_id}`, {
          conversation: r.found !== null,
          member: r.member !== null,
        });
      }
    }
    return sends.map((s) => {
      const f = found.get(`${s.appId}\n${s.conversationId}\n${s.senderId}`);
      if (!f?.conversation)
        return OncelyError.of('conversation_not_found', `conversation ${s.conversationId} does not exist`);
      if (!f.member)
        return OncelyError.of(
          'not_member',
          `${s.senderId} is not a member of conversation ${s.conversationId}`,
        );
      return null;
    });
  }

  return {
    async write(tx, sends, now, opts = {}) {
      const outcomes: Array<WriteOutcome | undefined> = new Array(sends.length);
      if (sends.length === 0) return [];
      // Lock order, first: the conversations, so that membership read below holds until commit.
      await store.lockConversations(tx, sortedConversations(sends));
      const refusals = await access(tx, sends);

      // The first permitted send of each key claims it; later sends of the key in this group follow it.
      const leaderOf = new Map<string, number>();
      const followers: number[] = [];
      sends.forEach((s, i) => {
        if (!s.idempotency || refusals[i]) return;
        const id = keyId(s.idempotency);
        if (leaderOf.has(id)) followers.push(i);
        else leaderOf.set(id, i);
      });
      const held = await claimKeys(
        tx,
        [...leaderOf.values()].map((i) => sends[i]!.idempotency!),
        now,
        ttlMs,
      );

      // Keys held by a live record: leaders that lost their claim, and refused sends whose key was
      // answered before (a repeat is answered even if the sender has left since).
      const lookup = sends.flatMap((s, i) => {
        const key = s.idempotency;
        if (!key) return [];
        const id = keyId(key);
        const lost = leaderOf.get(id) === i && !held.has(id);
        const refusedRepeat = refusals[i] !== null && !leaderOf.has(id);
        return lost || refusedRepeat ? [key] : [];
      });
      const records =
        lookup.length > 0 ? await findKeyRecords(tx, lookup, now) : new Map<string, KeyRecord>();
      const busy = () =>
        OncelyError.of('idempotency_key_busy', 'the key is being claimed concurrently; retry');

      const writing: number[] = [];
      sends.forEach((s, i) => {
        const refusal = refusals[i];
        const key = s.idempotency;
        const id = key && keyId(key);
        const record = id && records.get(id);
        if (refusal) {
          outcomes[i] = record
            ? { ok: true, value: replay(record, key.fingerprint) }
            : { ok: false, error: refusal };
        } else if (!id || (leaderOf.get(id) === i && held.has(id))) {
          writing.push(i);
        } else if (leaderOf.get(id) === i) {
          // Lost the claim: a repeat of a committed send, or (no record) one still being written elsewhere.
          outcomes[i] = record
            ? { ok: true, value: replay(record, key.fingerprint) }
            : { ok: false, error: busy() };
        }
      });
      if (opts.allOrNothing && outcomes.some((o) => o && (!o.ok || o.value.status === 'reused'))) {
        throw new WriteRefused(outcomes.map((o) => o ?? { ok: false, error: aborted() }));
      }

      let results: SendResult[] = [];
      const appended = await events.append(
        tx,
        writing.map((i) => {
          const s = sends[i]!;
          return {
            id: newId(),
            appId: s.appId,
            conversationId: s.conversationId,
            type: 'message.created' as const,
            senderId: s.senderId,
            body: s.body,
            clientMsgId: s.clientMsgId,
          };
        }),
        now,
        // Answers need only ids and seqs: written before the positions, which come last.
        async (sequenced) => {
          results = sequenced.map(({ event }) => resultOf(event));
          const keyed = writing.flatMap((i, n) => {
            const ref = sends[i]!.idempotency;
            return ref ? [{ ref, result: results[n]! }] : [];
          });
          if (keyed.length > 0) await storeResults(tx, keyed);
        },
      );
      writing.forEach((i, n) => {
        outcomes[i] = {
          ok: true,
          value: { status: 'created', result: results[n]!, appended: appended[n]!, firstSeenAt: now },
        };
      });

      // Later sends of a key claimed in this group: repeats of the first, judged by their own payload.
      for (const i of followers) {
        const key = sends[i]!.idempotency!;
        const leader = leaderOf.get(keyId(key))!;
        const led = outcomes[leader]!;
        const record = records.get(keyId(key));
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

const aborted = () => OncelyError.of('internal_error', 'a send was left without an outcome');

function resultOf(event: WireEvent): SendResult {
  return { id: event.id, conversationId: event.conversationId, seq: event.seq, createdAt: event.createdAt };
}
