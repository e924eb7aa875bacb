import { describe, expect, it } from 'vitest';
import { LruMap } from '../../src/lru-map.js';

describe('LruMap', () => {
  it('keeps the most recently used entries up to its bound', () => {
    const m = new LruMap<string, number>(2);
    m.set('a', 1);
    m.set('b', 2);
    expect(m.get('a')).toBe(1); // a is now younger than b
    m.set('c', 3);
    expect(m.get('b')).toBeUndefined();
    expect(m.get('a')).toBe(1);
    expect(m.get('c')).toBe(3);
    expect(m.size).toBe(2);
  });

  it('replacing a key does not evict another', () => {
    const m = new LruMap<string, number>(2);
    m.set('a', 1);
    m.set('b', 2);
    m.set('b', 3);
    expect([m.get('a'), m.get('b'), m.size]).toEqual([1, 3, 2]);
  });
});
