// The Redis Bus (ioredis pub/sub), for several instances: each publish goes to one channel that every
// instance subscribes to, and to this instance's own listeners directly. Guarantees are the Bus contract's
// (bus.ts); how this adapter meets them is said where it happens.
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import type { Logger } from '../observability/logger.js';
import type { Bus, BusListener, BusMessage } from './bus.js';

export interface RedisBusOptions {
  url: string;
  /**
   * Prefix of the channel name. The composition root puts the store's epoch in it, so deployments on other
   * databases that share one Redis never hear each other. @defaultValue "oncely:"
   */
  prefix?: string;
  logger: Logger;
  /** Called with the number of messages dropped because Redis could not be reached. */
  onDropped?: (count: number) => void;
  /** How long the first connection may take before the start fails. @defaultValue 10 000 */
  connectTimeoutMs?: number;
  /** How long a readiness ping may take. @defaultValue 1 000 */
  pingTimeoutMs?: number;
}

export const redisBusDefaults = { prefix: 'oncely:', connectTimeoutMs: 10_000, pingTimeoutMs: 1_000 };

/** What travels on the channel: the publishing instance and its messages, in publish order. */
interface Envelope {
  o: string;
  m: BusMessage[];
}

/** Opens the bus; resolves once both connections are up and the channel is subscribed. */
export async function createRedisBus(options: RedisBusOptions): Promise<Bus> {
  const { logger } = options;
  const channel = `${options.prefix ?? redisBusDefaults.prefix}bus`;
  const connectTimeout = options.connectTimeoutMs ?? redisBusDefaults.connectTimeoutMs;
  const pingTimeoutMs = options.pingTimeoutMs ?? redisBusDefaults.pingTimeoutMs;
  // Own messages come back from Redis too; they were already handed to the local listeners.
  const origin = randomUUID();
  const listeners = new Set<BusListener>();

  // Both reconnect by themselves (ioredis' default backoff, up to 2 s apart). The publisher neither queues
  // nor resends while down: a publish then is dropped at once (at most once; nothing piles up in memory,
  // and nothing stale is sent after the outage).
  const publisher = new Redis(options.url, {
    lazyConnect: true,
    connectTimeout,
    enableOfflineQueue: false,
    autoResendUnfulfilledCommands: false,
    maxRetriesPerRequest: 0,
    // Publishes of one turn of the event loop leave in one write.
    enableAutoPipelining: true,
  });
  // The subscription is renewed by us on every connect (below), so that we know when it is live again.
  const subscriber = new Redis(options.url, {
    lazyConnect: true,
    connectTimeout,
    autoResubscribe: false,
    maxRetriesPerRequest: null,
  });

  let closed = false;
  let live = false;
  let everLive = false;
  const waitingForLive: Array<() => void> = [];
  let outage = false;
  let dropped = 0;

  const noteOutage = (err: Error | undefined) => {
    if (outage || closed) return;
    outage = true;
    logger.warn({ err: err?.message }, 'bus: Redis unreachable; live delivery between instances paused');
  };
  for (const r of [publisher, subscriber]) {
    r.on('error', (err: Error) => noteOutage(err));
    r.on('close', () => {
      if (r === subscriber) live = false;
      noteOutage(undefined);
    });
  }

  subscriber.on('messageBuffer', (_channel: Buffer, payload: Buffer) => {
    let envelope: Envelope;
    try {
      envelope = JSON.parse(payload.toString('utf8')) as Envelope;
    } catch {
      return logger.warn('bus: a message on the channel is not JSON; ignored');
    }
    if (envelope.o === origin || !Array.isArray(envelope.m)) return;
    for (const m of envelope.m) {
      if (!isBusMessage(m)) {
        logger.warn('bus: a message of unknown shape on the channel; ignored');
        continue;
      }
      for (const listener of listeners) listener.message(m);
    }
  });

  // Every (re)connect subscribes again. After a reconnect, what was published meanwhile is gone: the
  // listeners are told at once, so they read the store now instead of waiting for their next check.
  subscriber.on('ready', () => {
    subscriber.subscribe(channel).then(
      () => {
        if (closed) return;
        live = true;
        if (outage && publisher.status === 'ready') outage = false;
        if (everLive) {
          logger.info({ dropped }, 'bus: Redis reachable again; reading missed events from the store');
          for (const listener of listeners) listener.lost();
        }
        everLive = true;
        for (const resolve of waitingForLive.splice(0)) resolve();
      },
      (err: Error) => logger.warn({ err: err.message }, 'bus: subscribe failed; retrying on reconnect'),
    );
  });
  publisher.on('ready', () => {
    if (live) outage = false;
  });

  const whenLive = () =>
    live ? Promise.resolve() : new Promise<void>((resolve) => waitingForLive.push(resolve));

  try {
    await Promise.all([publisher.connect(), subscriber.connect()]);
    await Promise.race([
      whenLive(),
      new Promise((_, reject) =>
        setTimeout(() => reject(new Error('no subscription within the timeout')), connectTimeout).unref(),
      ),
    ]);
  } catch (err) {
    closed = true;
    publisher.disconnect();
    subscriber.disconnect();
    // Never the URL: it may hold a password.
    throw new Error(`cannot reach Redis at ONCELY_REDIS_URL: ${(err as Error).message}`);
  }

  function drop(count: number): void {
    dropped += count;
    options.onDropped?.(count);
  }

  async function publishMany(messages: BusMessage[]): Promise<void> {
    if (messages.length === 0 || closed) return;
    for (const m of messages) for (const listener of listeners) listener.message(m);
    if (publisher.status !== 'ready') return drop(messages.length);
    // One PUBLISH for the whole group: one message per instance instead of one per event.
    const envelope: Envelope = { o: origin, m: messages };
    await publisher.publish(channel, JSON.stringify(envelope)).then(
      () => undefined,
      (err: Error) => {
        noteOutage(err);
        drop(messages.length);
      },
    );
  }

  return {
    publish: (message) => publishMany([message]),
    publishMany,
    async subscribe(listener) {
      listeners.add(listener);
      await whenLive();
      return () => listeners.delete(listener);
    },
    async ping() {
      if (!live) throw new Error('bus: the subscription to Redis is not live');
      let timer: ReturnType<typeof setTimeout> | undefined;
      try {
        await Promise.race([
          publisher.ping(),
          new Promise((_, reject) => {
            timer = setTimeout(
              () => reject(new Error('bus: Redis did not answer PING in time')),
              pingTimeoutMs,
            );
          }),
        ]);
      } finally {
        clearTimeout(timer);
      }
    },
    async close() {
      if (closed) return;
      closed = true;
      listeners.clear();
      for (const resolve of waitingForLive.splice(0)) resolve();
      await Promise.all(
        [publisher, subscriber].map((r) =>
          r.status === 'ready' ? r.quit().catch(() => r.disconnect()) : r.disconnect(),
        ),
      );
    },
  };
}

function isBusMessage(m: unknown): m is BusMessage {
  const o = m as Partial<Record<string, unknown>> | null;
  if (typeof o !== 'object' || o === null || typeof o.appId !== 'string') return false;
  if (o.kind === 'event')
    return Number.isSafeInteger(o.pos) && typeof o.event === 'object' && o.event !== null;
  if (typeof o.userId !== 'string') return false;
  if (o.kind === 'receipt' || o.kind === 'typing') return typeof o.conversationId === 'string';
  return o.kind === 'presence' && typeof o.online === 'boolean' && Number.isFinite(o.at);
}
