// Ingest: the one path every entry point (REST, WebSocket, batch, callbacks, queues) takes to create a
// message. In one transaction it claims the idempotency key, takes the next seq and inserts the event;
// a repeat gets the stored result of the first. Sends from many callers share transactions (group commit).
import type { Clock } from '../clock.js';
import { OncelyError, forbidden, notFound } from '../errors.js';
import { claimKey, findKey, releaseKey, storeResult, type KeyRef } from '../idempotency/keys.js';
import {
  appendEvent,
  toWireEvent,
  type EventWriter,
  type MessageBody,
  type WireEvent,
} from '../conversations/events.js';
import type { Metrics } from '../observability/metrics.js';
import type { Logger } from '../observability/logger.js';
import type { Bus } from '../realtime/bus.js';
import { preparedQuery } from '../store/prepared-query.js';
import type { Store, Tx } from '../store/store.js';
import { GroupCommit, type Outcome } from './group-commit.js';

/** The conversation, and the sender's membership of it (absent: null user_id). */
const senderQuery = preparedQuery(['appId', 'conversationId', 'senderId'] as const, (db, p) =>
  db
    .selectFrom('conversations')
    .leftJoin('members', (join) =>
      join
        .onRef('members.app_id', '=', 'conversations.app_id')
        .onRef('members.conversation_id', '=', 'conversations.id')
        .on('members.user_id', '=', p.senderId),
    )
    .select(['conversations.id', 'members.user_id', 'members.left_pos'])
    .where('conversations.app_id', '=', p.appId)
    .where('conversations.id', '=', p.conversationId),
);

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
  | { status: 'created'; result: SendResult; event: WireEvent; pos: number; firstSeenAt: number }
  /** A repeat of the key with the same payload. */
  | { status: 'duplicate'; result: SendResult; firstSeenAt: number }
  /** The key was first used with another payload; `result` is that first answer. */
  | { status: 'reused'; result: SendResult; firstSeenAt: number };

/** Extension points around the transaction (the plugin point of seed 003). */
export interface IngestHooks {
  /** Runs before a new message is written; may throw an OncelyError to refuse it, or return a new body. */
  beforeCommit?(cmd: SendCommand): Promise<MessageBody | void> | MessageBody | void;
  /** Runs once per created message, after its commit; never for repeats. */
  afterCommit?(event: WireEvent, cmd: SendCommand): Promise<void> | void;
}

export interface IngestOptions {
  store: Store;
  bus: Bus;
  clock: Clock;
  metrics: Metrics;
  logger: Logger;
  idempotencyTtlSeconds: number;
  messageBodyMaxBytes: number;
  groupCommitMaxSize: number;
  hooks?: IngestHooks[];
  /** Run in the transaction of each appended message (the webhook outbox). */
  eventWriters?: EventWriter[];
}

export interface Ingest {
  /** Creates a message once, or answers a repeat from the stored result. */
  send(cmd: SendCommand): Promise<SendOutcome>;
  /** Applies one send inside a caller's transaction (atomic batches); publish the created ones afterwards. */
  sendInTransaction(tx: Tx, cmd: SendCommand, now: number): Promise<SendOutcome>;
  /** Size check and beforeCommit hooks, as `send` applies them; callers of sendInTransaction run it first. */
  prepare(cmd: SendCommand): Promise<SendCommand>;
  /** Publishes committed outcomes and queues their afterCommit hooks (run in commit order, off the commit loop). */
  afterCommit(outcomes: Array<{ cmd: SendCommand; outcome: SendOutcome }>): Promise<void>;
  close(): Promise<void>;
}

export function checkBodySize(body: MessageBody, max: number): void {
  const bytes = Buffer.byteLength(JSON.stringify(body));
  if (bytes > max)
    throw new OncelyError(413, 'message_too_large', `message body is ${bytes} bytes; the limit is ${max}`);
}

export function createIngest(options: IngestOptions): Ingest {
  const { store, bus, clock, metrics, logger } = options;
  const ttlMs = options.idempotencyTtlSeconds * 1000;
  const hooks = options.hooks ?? [];

  function replay(
    record: { fingerprint: string; result: string; created_at: number },
    fp: string,
  ): SendOutcome {
    const result = JSON.parse(record.result) as SendResult;
    const firstSeenAt = Number(record.created_at);
    return record.fingerprint === fp
      ? { status: 'duplicate', result, firstSeenAt }
      : { status: 'reused', result, firstSeenAt };
  }

  async function checkSender(tx: Tx, cmd: SendCommand): Promise<void> {
    const { rows } = await senderQuery(tx, {
      appId: cmd.appId,
      conversationId: cmd.conversationId,
      senderId: cmd.senderId,
    });
    const row = rows[0];
    if (!row) throw notFound('conversation_not_found', `conversation ${cmd.conversationId} does not exist`);
    if (row.user_id === null || row.left_pos !== null) {
      throw forbidden('not_member', `${cmd.senderId} is not a member of conversation ${cmd.conversationId}`);
    }
  }

  async function sendInTransaction(tx: Tx, cmd: SendCommand, now: number): Promise<SendOutcome> {
    const key = cmd.idempotency;
    // Invariant 1: the key row and the event commit together, or neither does.
    if (key && !(await claimKey(tx, key, key.fingerprint, now, ttlMs))) {
      const record = await findKey(tx, key, now);
      if (!record) throw new Error('idempotency key vanished inside its transaction');
      return replay(record, key.fingerprint);
    }
    try {
      await checkSender(tx, cmd);
    } catch (err) {
      if (key) await releaseKey(tx, key);
      throw err;
    }
    const row = await appendEvent(
      tx,
      {
        appId: cmd.appId,
        conversationId: cmd.conversationId,
        type: 'message.created',
        senderId: cmd.senderId,
        body: cmd.body,
        clientMsgId: cmd.clientMsgId,
        now,
      },
      options.eventWriters,
    );
    const event = toWireEvent(row);
    const result: SendResult = {
      id: event.id,
      conversationId: event.conversationId,
      seq: event.seq,
      createdAt: event.createdAt,
    };
    if (key) await storeResult(tx, key, result);
    return { status: 'created', result, event, pos: Number(row.pos), firstSeenAt: now };
  }

  async function runGroup(cmds: SendCommand[]): Promise<Outcome<SendOutcome>[]> {
    const now = clock.now();
    const applyAll = (tx: Tx, group: SendCommand[]) =>
      (async () => {
        const outcomes: Outcome<SendOutcome>[] = [];
        for (const cmd of group) {
          try {
            outcomes.push({ ok: true, value: await sendInTransaction(tx, cmd, now) });
          } catch (error) {
            // Expected refusals are thrown before any write of this command, so the rest may commit.
            if (!(error instanceof OncelyError)) throw error;
            outcomes.push({ ok: false, error });
          }
        }
        return outcomes;
      })();

    let outcomes: Outcome<SendOutcome>[];
    try {
      outcomes = await store.transaction((tx) => applyAll(tx, cmds));
    } catch (error) {
      if (cmds.length === 1) throw error;
      // One command broke the shared transaction: write each alone so only that one fails.
      logger.warn({ err: error, size: cmds.length }, 'group commit failed; retrying commands one by one');
      outcomes = [];
      for (const cmd of cmds) {
        try {
          const [one] = await store.transaction((tx) => applyAll(tx, [cmd]));
          outcomes.push(one ?? { ok: false, error: new Error('no outcome') });
        } catch (err) {
          outcomes.push({ ok: false, error: err });
        }
      }
    }
    metrics.groupCommitSize.observe(cmds.length);
    const committed: Array<{ cmd: SendCommand; outcome: SendOutcome }> = [];
    outcomes.forEach((o, i) => {
      if (o.ok) committed.push({ cmd: cmds[i]!, outcome: o.value });
    });
    await afterCommit(committed);
    return outcomes;
  }

  // afterCommit hooks run in commit order on a chain of their own: a slow plugin must not hold up the
  // group commit loop, and with it every sender's answer.
  let hooksDone: Promise<void> = Promise.resolve();

  async function runAfterCommitHooks(event: WireEvent, cmd: SendCommand): Promise<void> {
    for (const hook of hooks) {
      try {
        await hook.afterCommit?.(event, cmd);
      } catch (err) {
        logger.error({ err, messageId: event.id }, 'afterCommit hook failed');
      }
    }
  }

  async function afterCommit(committed: Array<{ cmd: SendCommand; outcome: SendOutcome }>): Promise<void> {
    for (const { cmd, outcome } of committed) {
      if (outcome.status === 'created') {
        metrics.messagesCreated.inc({ source: cmd.source });
        await bus.publish({ kind: 'event', appId: cmd.appId, event: outcome.event, pos: outcome.pos });
        if (hooks.length > 0) {
          const { event } = outcome;
          hooksDone = hooksDone.then(() => runAfterCommitHooks(event, cmd));
        }
      } else if (outcome.status === 'duplicate') {
        metrics.duplicates.inc({ source: cmd.source });
      } else {
        metrics.idempotencyConflicts.inc({ source: cmd.source });
      }
    }
  }

  async function prepare(cmd: SendCommand): Promise<SendCommand> {
    checkBodySize(cmd.body, options.messageBodyMaxBytes);
    for (const hook of hooks) {
      const enriched = await hook.beforeCommit?.(cmd);
      if (enriched) cmd = { ...cmd, body: enriched };
    }
    return cmd;
  }

  // One group at a time (maxInFlight 1): measured with `npm run bench -- ingest`, a second group in flight
  // made groups smaller, and the commit itself, not the disk flush, is the costly part of a group.
  const group = new GroupCommit<SendCommand, SendOutcome>({
    maxSize: options.groupCommitMaxSize,
    runGroup,
  });

  return {
    async send(cmd) {
      cmd = await prepare(cmd);
      const end = metrics.ingestLatency.startTimer();
      try {
        return await group.submit(cmd);
      } finally {
        end();
      }
    },
    sendInTransaction,
    prepare,
    afterCommit,
    async close() {
      await group.flushed();
      await hooksDone;
    },
  };
}
