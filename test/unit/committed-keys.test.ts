import { describe, expect, it } from 'vitest';
import { CommittedKeys } from '../../src/idempotency/committed-keys.js';

const ttlMs = 60_000;
const ref = (key: string, appId = 'app1', scope = 'app') => ({ appId, scope, key });
const committed = (firstSeenAt: number, result = 'r') => ({ fingerprint: 'fp', result, firstSeenAt });

describe('CommittedKeys', () => {
  it('answers a key until the instant its record expires, and not from then on', () => {
    const keys = new CommittedKeys<string>({ ttlMs });
    keys.remember(ref('k'), committed(1_000));
    expect(keys.find(ref('k'), 1_000)?.result).toBe('r');
    // The store's rule: a record is live while expires_at (claim + TTL) > now.
    expect(keys.find(ref('k'), 1_000 + ttlMs - 1)?.result).toBe('r');
    expect(keys.find(ref('k'), 1_000 + ttlMs)).toBeUndefined();
    expect(keys.size).toBe(0);
    // Expired stays expired, even if the clock were read earlier afterwards.
    expect(keys.find(ref('k'), 1_000)).toBeUndefined();
  });

  it('a new claim of the key after expiry replaces the old answer', () => {
    const keys = new CommittedKeys<string>({ ttlMs });
    keys.remember(ref('k'), committed(0, 'first'));
    keys.remember(ref('k'), committed(ttlMs, 'second'));
    expect(keys.find(ref('k'), ttlMs + 1)?.result).toBe('second');
    expect(keys.size).toBe(1);
  });

  it('keeps apps and scopes apart', () => {
    const keys = new CommittedKeys<string>({ ttlMs });
    keys.remember(ref('k', 'app1', 'app'), committed(0, 'a'));
    expect(keys.find(ref('k', 'app2', 'app'), 1)).toBeUndefined();
    expect(keys.find(ref('k', 'app1', 'user:alice'), 1)).toBeUndefined();
    keys.remember(ref('k', 'app1', 'user:alice'), committed(0, 'u'));
    expect(keys.find(ref('k', 'app1', 'app'), 1)?.result).toBe('a');
    expect(keys.find(ref('k', 'app1', 'user:alice'), 1)?.result).toBe('u');
  });

  it('holds at most maxKeys, forgetting the least recently asked', () => {
    const keys = new CommittedKeys<string>({ ttlMs, maxKeys: 3 });
    for (const k of ['a', 'b', 'c']) keys.remember(ref(k), committed(0, k));
    expect(keys.find(ref('a'), 1)?.result).toBe('a'); // a is now the most recently asked
    keys.remember(ref('d'), committed(0, 'd'));
    expect(keys.size).toBe(3);
    expect(keys.find(ref('b'), 1)).toBeUndefined();
    expect(['a', 'c', 'd'].map((k) => keys.find(ref(k), 1)?.result)).toEqual(['a', 'c', 'd']);
  });

  it('holds 50,000 keys by default', () => {
    const keys = new CommittedKeys<number>({ ttlMs });
    for (let i = 0; i < 50_001; i++)
      keys.remember(ref(`k${i}`), { fingerprint: '', result: i, firstSeenAt: 0 });
    expect(keys.size).toBe(50_000);
    expect(keys.find(ref('k0'), 1)).toBeUndefined();
    expect(keys.find(ref('k50000'), 1)?.result).toBe(50_000);
  });
});
