// The keys this process committed, each with its first answer: a retry of one is answered without a
// statement. Only this process's own commits are kept, each for exactly its record's retention, so an entry
// says what the store would say; a key committed by another instance is asked of the store, as always.
import { LruMap } from '../lru-map.js';
import { keyId, type KeyRef } from './keys.js';

/** What a key's record holds: the payload's fingerprint and the first answer, from `firstSeenAt`. */
export interface CommittedKey<R> {
  fingerprint: string;
  result: R;
  /** When the key was claimed (the record's created_at): it is retained until firstSeenAt + the TTL. */
  firstSeenAt: number;
}

export interface CommittedKeysOptions {
  /** How long a record is retained after its claim (the idempotency TTL), in ms. */
  ttlMs: number;
  /** Keys kept; the least recently asked go first. About 350 bytes each. @defaultValue 50,000 */
  maxKeys?: number;
}

export const committedKeysDefaults = { maxKeys: 50_000 };

export class CommittedKeys<R> {
  private readonly keys: LruMap<string, CommittedKey<R>>;
  private readonly ttlMs: number;

  constructor(options: CommittedKeysOptions) {
    this.ttlMs = options.ttlMs;
    this.keys = new LruMap(options.maxKeys ?? committedKeysDefaults.maxKeys);
  }

  /**
   * Records a key claimed by a commit of this process, after that commit is durable (an answer must never
   * come from a claim that could still roll back). `result` is kept as given: it must not be changed later.
   */
  remember(ref: KeyRef, key: CommittedKey<R>): void {
    this.keys.set(keyId(ref), key);
  }

  /**
   * The key's record as this process committed it, while the record is retained; undefined when this
   * process did not commit it, forgot it, or it has expired. Expiry is the store's rule (keys.ts): a record
   * is live while `now` < its claim time + the TTL, and a claim after that takes the key over.
   */
  find(ref: KeyRef, now: number): CommittedKey<R> | undefined {
    const id = keyId(ref);
    const key = this.keys.get(id);
    if (key === undefined) return undefined;
    if (now >= key.firstSeenAt + this.ttlMs) {
      this.keys.delete(id);
      return undefined;
    }
    return key;
  }

  get size(): number {
    return this.keys.size;
  }
}
