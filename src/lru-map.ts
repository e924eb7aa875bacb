// A Map bounded to its most recently used entries, for caches that must not grow with what clients send.

export class LruMap<K, V> {
  private readonly map = new Map<K, V>();
  /**
   * Walks the keys oldest first, kept from one eviction to the next: a Map leaves a hole where a key was
   * deleted until it next rehashes, and a new iterator would step over every hole left by the evictions
   * before it (tens of µs per eviction once a big map is full). Everything behind it has been deleted: it
   * only passes keys it evicts, and moved or new keys go to the young end, ahead of it.
   */
  private oldest: Iterator<K> = this.map.keys();

  constructor(private readonly max: number) {
    if (!(max >= 1)) throw new Error('an LruMap holds at least one entry');
  }

  get size(): number {
    return this.map.size;
  }

  /** The value, now the most recently used. */
  get(key: K): V | undefined {
    const value = this.map.get(key);
    if (value !== undefined) {
      // A Map iterates in insertion order: re-inserting moves the key to the young end.
      this.map.delete(key);
      this.map.set(key, value);
    }
    return value;
  }

  /** Adds or replaces; the least recently used entry goes when the map is full. */
  set(key: K, value: V): void {
    this.map.delete(key);
    if (this.map.size >= this.max) this.map.delete(this.oldest.next().value as K);
    this.map.set(key, value);
  }

  delete(key: K): void {
    this.map.delete(key);
  }

  clear(): void {
    this.map.clear();
    this.oldest = this.map.keys();
  }
}
