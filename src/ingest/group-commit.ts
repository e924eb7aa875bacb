// Group commit: commands that arrive while a transaction is being written queue up and are then written
// together in the next one. Invariant 2: each caller is answered only after the commit holding its command.

export type Outcome<R> = { ok: true; value: R } | { ok: false; error: unknown };

export interface GroupCommitOptions<C, R> {
  /** Largest group written in one transaction. */
  maxSize: number;
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
  private draining: Promise<void> | undefined;

  constructor(private readonly options: GroupCommitOptions<C, R>) {}

  submit(command: C): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.queue.push({ command, resolve, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    // The first command of a quiet period waits one macrotask so that its neighbours can join it.
    this.draining ??= new Promise<void>((done) => setImmediate(done))
      .then(() => this.drain())
      .finally(() => {
        this.draining = undefined;
        // A command submitted after the drain loop's last look at the queue, but before this line, found
        // `draining` still set and started nothing: without this it would wait for the next submit.
        if (this.queue.length > 0) this.schedule();
      });
  }

  /** Resolves once everything submitted so far is committed. */
  async flushed(): Promise<void> {
    while (this.draining) await this.draining;
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0) {
      const group = this.queue.splice(0, this.options.maxSize);
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
}
