// Counts of a labelled prom-client counter kept as plain numbers per label set, and added to the counter
// whenever it is read (a scrape, a test): prom-client hashes and checks the labels on every `inc`
// (≈ 0.4 µs), which a counter of every request need not pay.
import { Counter, type CounterConfiguration } from 'prom-client';

/** One label set's running count. */
export interface Tallied {
  inc(n?: number): void;
}

export class Tally<L extends string> {
  private readonly counts = new Map<
    string,
    { labels: Record<L, string>; n: number; inc(n?: number): void }
  >();

  /** The counter itself, for reading; counting goes through `of`. */
  readonly counter: Counter<L>;

  constructor(config: CounterConfiguration<L>) {
    // prom-client calls `collect` before each read of the metric, scrapes included.
    this.counter = new Counter({ ...config, collect: () => this.flush() });
  }

  /** The count of `labels`, known by `id` (a string that tells label sets apart); made on first use. */
  of(id: string, labels: Record<L, string>): Tallied {
    let count = this.counts.get(id);
    if (!count) {
      const made = { labels: { ...labels }, n: 0, inc: (n = 1) => void (made.n += n) };
      this.counts.set(id, made);
      count = made;
    }
    return count;
  }

  private flush(): void {
    for (const count of this.counts.values()) {
      if (count.n === 0) continue;
      this.counter.inc(count.labels, count.n);
      count.n = 0;
    }
  }
}
