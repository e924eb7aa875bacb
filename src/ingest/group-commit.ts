// Group commit: commands that arrive while a transaction is being written queue up and are then written
// together in the next one. Invariant 2: each caller is answered only after the commit holding its command.

export type Outcome<R> = { ok: true; value: R } | { ok: false; error: unknown };

export interface GroupCommitOptions<C, R> {
  /** Largest group written in one transaction. */
  maxSize: number;
  /**
   * Groups under way at once (default 1), each written by its own `runGroup` call: a group starts as soon as
   * one of them is free, with every command queued by then.
   */
  maxInFlight?: number;
  /** Told how many commands wait for a free slot, whenever that changes. */
  onQueued?: (waiting: number) => void;
  /** Writes one group in one transaction and returns one outcome per command, in order. */
  runGroup(commands: C[]): Promise<Outcome<R>[]>;
}

interface Pending<C, R> {
  command: C;
  resolve(value: R): void;
  reject(error: unknown): void;
}

export class GroupCommit<C, R> {
  private queue: Pending<C, R>[] = [];
  private readonly inFlight = new Set<Promise<void>>();
  private scheduled = false;
  private readonly maxInFlight: number;

  constructor(private readonly options: GroupCommitOptions<C, R>) {
    this.maxInFlight = Math.max(1, options.maxInFlight ?? 1);
  }

  /** Since when nothing has been written or waiting (ms, performance.now()); 0 while busy. */
  private idleSince = 0;

  /** How long nothing has been written or waiting to be, in ms; 0 while a group is written or waits. */
  idleMs(): number {
    return this.inFlight.size > 0 || this.queue.length > 0 ? 0 : performance.now() - this.idleSince;
  }

  submit(command: C): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.queue.push({ command, resolve, reject });
      this.schedule();
      if (this.inFlight.size >= this.maxInFlight) this.options.onQueued?.(this.queue.length);
    });
  }

  /** Resolves once everything submitted so far is committed. */
  async flushed(): Promise<void> {
    for (;;) {
      if (this.scheduled) await new Promise((r) => setImmediate(r));
      else if (this.inFlight.size > 0) await Promise.all(this.inFlight);
      else if (this.queue.length > 0) this.schedule();
      else return;
    }
  }

  private schedule(): void {
    if (this.scheduled || this.queue.length === 0 || this.inFlight.size >= this.maxInFlight) return;
    // The first command of a quiet period waits one macrotask so that its neighbours can join it.
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.launch();
    });
  }

  private launch(): void {
    while (this.inFlight.size < this.maxInFlight && this.queue.length > 0) {
      const group = this.queue.splice(0, this.options.maxSize);
      this.options.onQueued?.(this.queue.length);
      const run: Promise<void> = this.write(group).finally(() => {
        this.inFlight.delete(run);
        this.idleSince = performance.now();
        // Commands that arrived while every slot was busy start now; without this they would wait for
        // the next submit.
        this.schedule();
      });
      this.inFlight.add(run);
    }
  }

  private async write(group: Pending<C, R>[]): Promise<void> {
    let outcomes: Outcome<R>[];
    try {
      outcomes = await this.options.runGroup(group.map((p) => p.command));
    } catch (error) {
      outcomes = group.map(() => ({ ok: false, error }));
    }
    group.forEach((pending, i) => {
      const outcome = outcomes[i];
      if (!outcome) pending.reject(new Error('group commit returned too few outcomes'));
      else if (outcome.ok) pending.resolve(outcome.value);
      else pending.reject(outcome.error);
    });
  }
}
