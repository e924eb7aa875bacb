// Ingest: the one path every entry point (REST, WebSocket, batch, callbacks, queues) takes to create a
// message. Single sends share transactions (group commit); every group, and every list of items, is written
// by the one set-based writer, which claims the keys, takes the seqs and inserts the events; a repeat gets
// the stored result of the first. Callers are answered once the commit is durable; the bus hears afterwards.
import type { Clock } from '../clock.js';
import type { Conversations } from '../conversations/conversations.js';
import type { AppendedEvent, EventLog } from '../conversations/event-log.js';
import type { MessageBody, WireEvent } from '../conversations/events.js';
import { CommittedKeys, type CommittedKey } from '../idempotency/committed-keys.js';
import type { KeyRef } from '../idempotency/keys.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { Bus } from '../realtime/bus.js';
import type { Store, Tx } from '../store/store.js';
import {
  bodyLimitDefaults,
  checkBody,
  checkBodySize,
  checkBodyDepth,
  exceedsDepth,
  tooDeepMessage,
  type BodyLimits,
} from './body-limits.js';
import { createAfterCommit } from './after-commit.js';
import { actorAnswer, actorCommand, type ActorSend, type ActorSendAnswer } from './actor-send.js';
import { GroupCommit, type Outcome } from './group-commit.js';
import { createItemSender, type ItemOutcome, type SendItems } from './items.js';
import { isRefused } from './item-slots.js';
import { createWriter, type SendCommand, type SendOutcome, type SendResult } from './writer.js';

export type { ActorSend, ActorSendAnswer } from './actor-send.js';
export type { Item, ItemError, ItemOutcome, SendItems } from './items.js';
export type { SendCommand, SendOutcome, SendResult } from './writer.js';

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
  /** The event log every message is appended through (and its writers, such as an outbox). */
  events: EventLog;
  /** Finds or creates the direct conversations of `to` items. */
  conversations: Conversations;
  idempotencyTtlSeconds: number;
  messageBodyMaxBytes: number;
  /** Containers nested in a body, the body itself counting 1; deeper is `400 body_too_deep`. @defaultValue 64 */
  messageBodyMaxDepth?: number;
  groupCommitMaxSize: number;
  /**
   * Groups written at once, each in its own transaction; at most the store's concurrentTransactions. Each
   * takes its locks in the order of store.ts, the position counter last, so groups of disjoint
   * conversations overlap all but their last statement and commit.
   */
  groupCommitInFlight: number;
  /** Keys this process committed, kept to answer their retries without the store. @defaultValue 50,000 */
  committedKeysMax?: number;
  hooks?: IngestHooks[];
}

/** What a send's own transaction makes before the message: its conversation, and events to publish with it. */
export interface SendSetup {
  conversationId: string;
  /** Events the setup appended (members added), published before the message. */
  appended: AppendedEvent[];
}

export interface Ingest {
  /** Creates a message once, or answers a repeat from the stored result (callbacks, one queue message). */
  send(cmd: SendCommand): Promise<SendOutcome>;
  /**
   * A send in a transaction of its own that first runs `setup` (users, a conversation, members the message
   * needs; `cmd.conversationId` is the one it returns). The setup commits only with a created message: a
   * repeat of the key or a refusal rolls it back, so that of racing first sights (on any instance) only the
   * winner's leave anything behind.
   */
  sendWith(cmd: SendCommand, setup: (tx: Tx) => Promise<SendSetup>): Promise<SendOutcome>;
  /** A send by an app or a user over REST or WebSocket: its key's scope, fingerprint and `422` reuse. */
  sendAsActor(input: ActorSend): Promise<ActorSendAnswer>;
  /** A list of batch-like items of one scope in one transaction, each answered on its own (or atomically). */
  sendItems(input: SendItems): Promise<ItemOutcome[]>;
  /**
   * The record of a key this process committed, while it is retained: what the store would answer for it,
   * known without a statement. Undefined says nothing (committed elsewhere, forgotten, or never): ask the store.
   */
  committedKey(ref: KeyRef): CommittedKey<SendResult> | undefined;
  /** The body limits every send meets (depth, then size), for entry points that must check before ingest. */
  readonly bodyLimits: BodyLimits;
  /**
   * Whether sends are being written, wait to be, or were less than `sendsQuietMs` ago: work that can wait
   * (webhook deliveries) gives way. Under a load of sends the writer is idle only between groups, for less.
   */
  busy(): boolean;
  /** Resolves once everything submitted is committed and every afterCommit hook has run. */
  close(): Promise<void>;
}

/** A writer idle this long has no load of sends (see `Ingest.busy`). */
const sendsQuietMs = 50;

export function createIngest(options: IngestOptions): Ingest {
  const { store, bus, clock, metrics, logger } = options;
  const hooks = options.hooks ?? [];
  const bodyLimits: BodyLimits = {
    maxBytes: options.messageBodyMaxBytes,
    maxDepth: options.messageBodyMaxDepth ?? bodyLimitDefaults.maxDepth,
  };
  const writer = createWriter({
    store,
    events: options.events,
    idempotencyTtlSeconds: options.idempotencyTtlSeconds,
  });
  const committedKeys = new CommittedKeys<SendResult>({
    ttlMs: options.idempotencyTtlSeconds * 1000,
    maxKeys: options.committedKeysMax,
  });
  const after = createAfterCommit({ bus, metrics, logger, hooks, committedKeys });
  const afterCommit = after.committed;

  /**
   * Depth and size limits (only size when the entry point has just measured this body's depth), then the
   * plugins' beforeCommit; without plugins it answers at once (no promise per send).
   */
  function prepare(cmd: SendCommand, depthChecked = false): SendCommand | Promise<SendCommand> {
    if (depthChecked) checkBodySize(cmd.body, bodyLimits);
    else checkBody(cmd.body, bodyLimits);
    return hooks.length === 0 ? cmd : runBeforeCommit(cmd);
  }

  async function runBeforeCommit(cmd: SendCommand): Promise<SendCommand> {
    for (const hook of hooks) {
      const enriched = await hook.beforeCommit?.(cmd);
      if (enriched) cmd = { ...cmd, body: enriched };
    }
    return cmd;
  }

  async function runGroup(cmds: SendCommand[]): Promise<Outcome<SendOutcome>[]> {
    const now = clock.now();
    let outcomes: Outcome<SendOutcome>[];
    try {
      outcomes = await store.transaction((tx) => writer.write(tx, cmds, now));
    } catch (error) {
      if (cmds.length === 1) throw error;
      // One command broke the shared transaction: write each alone so only that one fails.
      logger.warn({ err: error, size: cmds.length }, 'group commit failed; retrying commands one by one');
      outcomes = [];
      for (const cmd of cmds) {
        try {
          const [one] = await store.transaction((tx) => writer.write(tx, [cmd], now));
          outcomes.push(one!);
        } catch (err) {
          outcomes.push({ ok: false, error: err });
        }
      }
    }
    metrics.groupCommitSize.observe(cmds.length);
    afterCommit(cmds.map((cmd, i) => ({ cmd, outcome: outcomes[i]! })));
    return outcomes;
  }

  const group = new GroupCommit<SendCommand, SendOutcome>({
    maxSize: options.groupCommitMaxSize,
    maxInFlight: Math.min(options.groupCommitInFlight, store.concurrentTransactions),
    onQueued: (waiting) => metrics.groupCommitQueued.set(waiting),
    runGroup,
  });

  /**
   * A retry of a key this process committed, answered as the writer would answer it (a repeat is answered
   * even if its sender has left since), without a statement or a place in a group.
   */
  function cachedRepeat(cmd: SendCommand): SendOutcome | undefined {
    const key = cmd.idempotency;
    const first = key && committedKeys.find(key, clock.now());
    if (!first) return undefined;
    const status = first.fingerprint === key.fingerprint ? 'duplicate' : 'reused';
    after.countRepeat(status, cmd.source);
    return { status, result: first.result, firstSeenAt: first.firstSeenAt };
  }

  async function send(cmd: SendCommand, depthChecked = false): Promise<SendOutcome> {
    // Prepared first, like any repeat: the limits and the plugins' beforeCommit see every send.
    cmd = await prepare(cmd, depthChecked);
    const end = metrics.ingestLatency.startTimer();
    try {
      return cachedRepeat(cmd) ?? (await group.submit(cmd));
    } finally {
      end();
    }
  }

  /** Thrown out of sendWith's transaction to roll its setup back when the message is a repeat. */
  class Repeat extends Error {
    constructor(readonly outcome: SendOutcome) {
      super('the key was claimed first by another send');
    }
  }

  async function sendWith(cmd: SendCommand, setup: (tx: Tx) => Promise<SendSetup>): Promise<SendOutcome> {
    const end = metrics.ingestLatency.startTimer();
    let made: SendSetup = { conversationId: cmd.conversationId, appended: [] };
    let outcome: SendOutcome;
    try {
      outcome = await store.transaction(async (tx) => {
        made = await setup(tx);
        // Here, not before: the plugins see the conversation the setup found or made.
        cmd = await prepare({ ...cmd, conversationId: made.conversationId });
        const [one] = await writer.write(tx, [cmd], clock.now());
        if (!one!.ok) throw one!.error;
        if (one!.value.status !== 'created') throw new Repeat(one!.value);
        return one!.value;
      });
    } catch (err) {
      if (!(err instanceof Repeat)) throw err;
      outcome = err.outcome;
      made = { conversationId: cmd.conversationId, appended: [] };
    } finally {
      end();
    }
    afterCommit([{ cmd, outcome: { ok: true, value: outcome } }], made.appended);
    return outcome;
  }

  const sendItems = createItemSender({
    store,
    writer,
    conversations: options.conversations,
    clock,
    metrics,
    // Ingest.sendItems below measures every item's depth first.
    prepare: (cmd) => prepare(cmd, true),
    // A list's keys are not remembered: it classifies all its keys with one look-up (≈ 1.7 µs per item),
    // less than remembering each created item costs.
    afterCommit: (committed) => afterCommit(committed, [], { remember: false }),
  });

  return {
    send: (cmd) => send(cmd),
    sendWith,
    async sendAsActor(input) {
      // Before the key's fingerprint, whose canonical JSON recurses.
      checkBodyDepth(input.body, bodyLimits);
      return actorAnswer(input, await send(actorCommand(input), true));
    },
    sendItems(input) {
      // A body too deep to fingerprint fails alone, like an item of the wrong shape.
      const items = input.items.map((item) =>
        !isRefused(item) && exceedsDepth(item.body, bodyLimits.maxDepth)
          ? {
              refused: {
                code: 'body_too_deep',
                message: tooDeepMessage(bodyLimits.maxDepth),
                retryable: false,
              },
            }
          : item,
      );
      return sendItems({ ...input, items });
    },
    committedKey: (ref) => committedKeys.find(ref, clock.now()),
    bodyLimits,
    busy: () => group.idleMs() < sendsQuietMs,
    async close() {
      await group.flushed();
      await after.hooksDone();
    },
  };
}
