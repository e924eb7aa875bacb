// The realtime part as the composition root sees it: the stream reader, the sequencer that orders the
// bus's events, and the hub that routes them to local connections. Realtime sessions (sessions.ts) subscribe
// through `subscribe()`.
import { OncelyError } from '../errors.js';
import type { Logger } from '../observability/logger.js';
import { readEpoch } from '../store/store-epoch.js';
import { CursorCodec } from './cursor.js';
import type { Bus } from './bus.js';
import type { ConnectionRegistry } from './connection-registry.js';
import { CatchUpQueue } from './catch-up-queue.js';
import { Hub } from './hub.js';
import { Sequencer } from './sequencer.js';
import { createStreamReader, type StreamReader } from './stream-reader.js';
import type { Store } from '../store/store.js';
import { Subscription, type Sink } from './subscription.js';

export interface Realtime {
  readonly hub: Hub;
  /** Counts each user's connections (WebSocket, SSE, waiting long-polls) against ONCELY_MAX_CONNECTIONS_PER_USER. */
  readonly connections: ConnectionRegistry;
  readonly reader: StreamReader;
  /** "Now": every event up to here has been routed to the connections of this instance. */
  now(): number;
  /** The cursor of a stream position (it carries the store's epoch: cursor.ts). */
  cursor(pos: number): string;
  /**
   * The position of a client's cursor; `400 invalid_cursor` if malformed, of another database or of this
   * one before a restore (another epoch), or past the store's head.
   */
  position(cursor: string): Promise<number>;
  /** A subscription of one user's stream writing to `sink`; call `start()` then `goLive()` or `resume()`. */
  subscribe(appId: string, userId: string, sink: Sink): Subscription;
  /** Stops routing (the sessions are closed before). */
  close(): void;
}

export async function createRealtime({
  store,
  bus,
  logger,
  connections,
  presenceBatchMs = 0,
}: {
  store: Store;
  bus: Bus;
  logger: Logger;
  connections: ConnectionRegistry;
  /** Presence changes heard within this window are delivered together (0: at the next turn). */
  presenceBatchMs?: number;
}): Promise<Realtime> {
  const reader = createStreamReader(store, { catchUps: new CatchUpQueue() });
  const cursors = new CursorCodec(await readEpoch(store.db));
  const hub = new Hub({ reader, logger, cursors, presenceBatchMs });
  const sequencer = new Sequencer({
    bus,
    reader,
    logger,
    onEvent: (e) => hub.onEvent(e),
    onReceipt: (r) => hub.onReceipt(r),
    onSignal: (m) => hub.onSignal(m),
  });
  await sequencer.start();
  hub.dispatchedPos = sequencer.released;
  return {
    hub,
    connections,
    reader,
    now: () => hub.dispatchedPos,
    cursor: (pos) => cursors.encode(pos),
    async position(cursor) {
      const pos = cursors.decode(cursor);
      // Past the head with this epoch: the stream was reset some other way; resuming would skip events.
      if (pos > hub.dispatchedPos && pos > (await reader.head())) {
        throw OncelyError.of('invalid_cursor', "the cursor is ahead of this server's stream");
      }
      return pos;
    },
    subscribe: (appId, userId, sink) => new Subscription({ hub, reader, appId, userId, sink }),
    close() {
      sequencer.close();
    },
  };
}
