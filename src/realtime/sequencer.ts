// The sequencer puts the bus's events back into stream order. Publishers publish after their own commit,
// so two transactions may publish in the opposite order of their positions; the sequencer holds an event
// until every lower position has been seen, and reads a missing one from the store when it is late (a slow
// or lost bus message). Positions are gapless and commit-ordered (see cursor.ts), so once pos p is known
// every lower position is readable. Receipts are not sequenced and pass straight through.
import type { Logger } from '../observability/logger.js';
import type { Bus, BusMessage } from './bus.js';
import type { StreamEvent, StreamReader } from './stream-reader.js';

export type ReceiptMessage = Extract<BusMessage, { kind: 'receipt' }>;
/** Signals that are neither stored nor sequenced: typing and presence changes. */
export type SignalMessage = Extract<BusMessage, { kind: 'typing' | 'presence' }>;

export interface SequencerOptions {
  bus: Bus;
  reader: StreamReader;
  logger: Logger;
  /** Called once per position, in position order. */
  onEvent(e: StreamEvent): void;
  onReceipt(r: ReceiptMessage): void;
  /** Typing and presence; they pass straight through like receipts. */
  onSignal?(m: SignalMessage): void;
  /** How long a gap may wait for its bus message before the store is read. */
  gapFillDelayMs?: number;
  /** How often the store's head is compared with the released position, to catch a lost last message. */
  headCheckMs?: number;
  /**
   * Events per store read when filling a gap: an instance far behind (its bus was down) catches up in
   * short reads with the event loop free between them. @defaultValue 1000
   */
  fillPageSize?: number;
}

export class Sequencer {
  /** Every position up to here has been handed to onEvent. */
  released = 0;
  private readonly held = new Map<number, StreamEvent>();
  private highestHeld = 0;
  private fillTimer: ReturnType<typeof setTimeout> | undefined;
  private filling = false;
  private unsubscribe: (() => void) | undefined;
  private headTimer: ReturnType<typeof setInterval> | undefined;
  private closed = false;
  /** A catch-up was asked for while a fill ran: run it when that fill ends. */
  private catchUpAfterFill = false;

  constructor(private readonly opts: SequencerOptions) {}

  /** Starts from the current head: events committed before now are history, not live. */
  async start(): Promise<void> {
    // Subscribed (live, not just asked for) before the head is read, so nothing published during the read
    // is missed; older ones are dropped below.
    this.unsubscribe = await this.opts.bus.subscribe({
      message: (m) => this.onMessage(m),
      // The bus lost messages (it reconnected): read up to the head now, not at the next check.
      lost: () => void this.catchUp(),
    });
    this.released = await this.opts.reader.head();
    for (const pos of [...this.held.keys()]) if (pos <= this.released) this.held.delete(pos);
    this.drain();
    // A lost bus message is noticed by the next event's gap; on a quiet stream, by the head moving on.
    this.headTimer = setInterval(() => void this.checkHead(), this.opts.headCheckMs ?? 1_000);
    this.headTimer.unref();
  }

  close(): void {
    this.closed = true;
    clearInterval(this.headTimer);
    clearTimeout(this.fillTimer);
    this.unsubscribe?.();
    this.held.clear();
  }

  private onMessage(m: BusMessage): void {
    if (this.closed) return;
    if (m.kind === 'receipt') {
      this.opts.onReceipt(m);
      return;
    }
    if (m.kind === 'typing' || m.kind === 'presence') {
      this.opts.onSignal?.(m);
      return;
    }
    if (m.pos <= this.released || this.held.has(m.pos)) return;
    this.held.set(m.pos, { appId: m.appId, event: m.event, pos: m.pos });
    if (m.pos > this.highestHeld) this.highestHeld = m.pos;
    this.drain();
  }

  private drain(): void {
    for (let next = this.held.get(this.released + 1); next; next = this.held.get(this.released + 1)) {
      this.held.delete(next.pos);
      this.released = next.pos;
      this.opts.onEvent(next);
    }
    if (this.held.size > 0) this.scheduleFill();
    else {
      clearTimeout(this.fillTimer);
      this.fillTimer = undefined;
    }
  }

  private scheduleFill(): void {
    if (this.fillTimer || this.filling || this.closed) return;
    this.fillTimer = setTimeout(() => {
      this.fillTimer = undefined;
      void this.fill();
    }, this.opts.gapFillDelayMs ?? 10);
  }

  /** Reads everything committed up to the store's head, whatever is held or under way. */
  private async catchUp(): Promise<void> {
    if (this.closed) return;
    if (this.filling) {
      this.catchUpAfterFill = true;
      return;
    }
    try {
      const head = await this.opts.reader.head();
      if (this.filling) {
        this.catchUpAfterFill = true;
        return;
      }
      clearTimeout(this.fillTimer);
      this.fillTimer = undefined;
      await this.fill(head);
    } catch (err) {
      this.opts.logger.warn({ err }, 'sequencer catch-up failed; the head check retries');
    }
  }

  private async checkHead(): Promise<void> {
    if (this.closed || this.filling || this.fillTimer || this.held.size > 0) return;
    try {
      const head = await this.opts.reader.head();
      if (head > this.released && !this.filling && this.held.size === 0) await this.fill(head);
    } catch (err) {
      this.opts.logger.warn({ err }, 'sequencer head check failed');
    }
  }

  /** Reads the positions still missing below the highest one held (or below `target`). */
  private async fill(target?: number): Promise<void> {
    if ((this.held.size === 0 && target === undefined) || this.closed) return;
    this.filling = true;
    try {
      const upTo = Math.max(this.highestHeld, target ?? 0);
      const pageSize = this.opts.fillPageSize ?? 1000;
      while (this.released < upTo && !this.closed) {
        const rows = await this.opts.reader.range(this.released, upTo, pageSize);
        for (const row of rows)
          if (row.pos > this.released && !this.held.has(row.pos)) this.held.set(row.pos, row);
        // Every position up to here has been read from the store (a short page read all of them).
        const readTo = rows.length === pageSize ? rows.at(-1)!.pos : upTo;
        // Positions are gapless, so one absent from the store and the bus below a visible one cannot exist;
        // if it ever does, skipping it is better than stalling every connection behind it.
        while (this.released < readTo && !this.closed) {
          const next = this.held.get(this.released + 1);
          if (next) {
            this.held.delete(next.pos);
            this.released = next.pos;
            this.opts.onEvent(next);
          } else {
            this.opts.logger.warn(
              { pos: this.released + 1 },
              'stream position missing from the store; skipped',
            );
            this.released++;
          }
        }
        if (this.released < upTo) await new Promise((resolve) => setImmediate(resolve));
      }
    } catch (err) {
      this.opts.logger.error({ err }, 'sequencer gap fill failed; retrying');
    } finally {
      this.filling = false;
    }
    if (this.catchUpAfterFill) {
      this.catchUpAfterFill = false;
      return this.catchUp();
    }
    if (!this.closed) this.drain();
  }
}
