// One connection's view of its user's stream, shared by the WebSocket and SSE transports: it starts live at
// "now", or resumes from a cursor by replaying the store and then switching to live with no gap and no
// repeat. While a replay runs, live deliveries are buffered; those at or below the last replayed position
// are dropped, so every event reaches the connection once, in stream order (invariant 3).
import { Delivery, type ReceiptDelivery, type SignalBatch } from './deliveries.js';
import type { Hub, Subscriber } from './hub.js';
import type { StreamReader } from './stream-reader.js';

/** Where a subscription writes: the transport. */
export interface Sink {
  event(d: Delivery): void;
  receipt(r: ReceiptDelivery): void;
  /** Typing and presence (not sequenced: written as they come, never replayed). */
  signal(batch: SignalBatch): void;
  /** True when the transport holds enough unsent data that a replay should wait for `drained()`. */
  full(): boolean;
  /** Resolves when the transport has room again, so a long replay does not flood a slow reader. */
  drained(): Promise<void>;
  /** The subscription could not keep up (its buffer passed the limit): drop the connection. */
  overflow(): void;
}

export interface SubscriptionOptions {
  hub: Hub;
  reader: StreamReader;
  appId: string;
  userId: string;
  sink: Sink;
  /**
   * Events per store read while replaying. A long replay is many short pages, each taking its turn with
   * every other connection's (catch-up-queue.ts), so no one waits behind one device's catch-up.
   * @defaultValue 500
   */
  pageSize?: number;
  /** Live events a subscription may buffer while it replays before it is dropped. */
  maxBuffered?: number;
}

export class Subscription implements Subscriber {
  readonly appId: string;
  readonly userId: string;
  closed = false;
  /** Position of the last event written to the sink (or the start position). */
  lastPos = 0;
  private live = false;
  private buffer: Delivery[] = [];
  private generation = 0;

  constructor(private readonly opts: SubscriptionOptions) {
    this.appId = opts.appId;
    this.userId = opts.userId;
  }

  /** Attaches to the hub; returns "now". Deliveries are held until `goLive()` or `resume()`. */
  async start(): Promise<number> {
    const now = await this.opts.hub.attach(this);
    this.lastPos = Math.max(this.lastPos, now);
    return now;
  }

  /** Live from the start position. */
  goLive(): void {
    if (this.live || this.closed) return;
    this.flush();
  }

  /** Replays everything after `fromPos`, then continues live. A newer resume supersedes a running one. */
  async resume(fromPos: number): Promise<void> {
    const generation = ++this.generation;
    this.live = false;
    const pageSize = this.opts.pageSize ?? 500;
    let after = fromPos;
    for (;;) {
      const page = await this.opts.reader.userEvents(this.appId, this.userId, after, pageSize);
      if (generation !== this.generation || this.closed) return;
      for (const e of page.events) {
        this.opts.sink.event(Delivery.of(e, this.opts.hub.cursors));
        if (this.opts.sink.full()) {
          await this.opts.sink.drained();
          if (generation !== this.generation || this.closed) return;
        }
      }
      after = page.through;
      if (!page.more) break;
    }
    this.lastPos = after;
    this.flush();
  }

  close(): void {
    this.closed = true;
    this.buffer = [];
    this.opts.hub.detach(this);
  }

  deliver(d: Delivery): void {
    if (this.closed) return;
    if (!this.live) {
      this.buffer.push(d);
      if (this.buffer.length > (this.opts.maxBuffered ?? 10_000)) this.opts.sink.overflow();
      return;
    }
    if (d.pos <= this.lastPos) return;
    this.lastPos = d.pos;
    this.opts.sink.event(d);
  }

  receipt(r: ReceiptDelivery): void {
    if (!this.closed) this.opts.sink.receipt(r);
  }

  signal(batch: SignalBatch): void {
    if (!this.closed) this.opts.sink.signal(batch);
  }

  private flush(): void {
    const held = this.buffer;
    this.buffer = [];
    for (const d of held) {
      if (d.pos <= this.lastPos) continue;
      this.lastPos = d.pos;
      this.opts.sink.event(d);
    }
    this.live = true;
  }
}
