// What the hub hands to the local consumers: an event, a receipt, typing and presence frames, each serialised
// once however many connections get it.
import type { WireEvent } from '../conversations/events.js';
import type { CursorCodec } from './cursor.js';
import type { ReceiptMessage } from './sequencer.js';
import type { StreamEvent } from './stream-reader.js';

/** One event on its way out, with its frame serialised once for every connection that gets it. */
export class Delivery {
  private frameCache: Buffer | undefined;
  private cursorCache: string | undefined;

  constructor(
    readonly appId: string,
    readonly event: WireEvent,
    readonly pos: number,
    private readonly cursors: CursorCodec,
  ) {}

  static of(e: StreamEvent, cursors: CursorCodec): Delivery {
    return new Delivery(e.appId, e.event, e.pos, cursors);
  }

  get cursor(): string {
    return (this.cursorCache ??= this.cursors.encode(this.pos));
  }

  /** The `event` frame of the WebSocket protocol (also the data line of SSE). */
  get frame(): Buffer {
    return (this.frameCache ??= Buffer.from(
      JSON.stringify({ type: 'event', event: this.event, cursor: this.cursor }),
    ));
  }
}

export class ReceiptDelivery {
  private frameCache: Buffer | undefined;
  constructor(readonly receipt: Omit<ReceiptMessage, 'kind' | 'appId'>) {}

  get frame(): Buffer {
    return (this.frameCache ??= Buffer.from(
      JSON.stringify({ type: 'receipt.updated', receipt: this.receipt }),
    ));
  }
}

/** A typing or presence frame (not sequenced, no cursor), serialised once for every connection. */
export class SignalDelivery {
  private frameCache: Buffer | undefined;
  constructor(
    /** The SSE event name: `typing` or `presence`. */
    readonly type: 'typing' | 'presence',
    readonly body: Record<string, unknown>,
  ) {}

  get frame(): Buffer {
    return (this.frameCache ??= Buffer.from(JSON.stringify({ type: this.type, ...this.body })));
  }
}

/**
 * Several typing or presence frames for one consumer at once (a presence window's). One batch is handed to
 * every consumer that gets the same frames, so a transport encodes it once for all of them.
 */
export class SignalBatch {
  private framesCache: Buffer[] | undefined;
  constructor(
    readonly type: 'typing' | 'presence',
    readonly items: readonly SignalDelivery[],
  ) {}

  get frames(): readonly Buffer[] {
    return (this.framesCache ??= this.items.map((d) => d.frame));
  }
}
