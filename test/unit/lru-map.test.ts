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

describe('LruMap over many evictions', () => {
  it('keeps exactly what a plain list-ordered LRU keeps, through gets, sets, deletes and clears', () => {
    const max = 5;
    const m = new LruMap<number, number>(max);
    let model: Array<[number, number]> = []; // oldest first
    const touch = (k: number) => {
      const at = model.findIndex(([key]) => key === k);
      if (at === -1) return undefined;
      const [entry] = model.splice(at, 1);
      model.push(entry!);
      return entry![1];
    };
    let seed = 7;
    const random = (n: number) => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % n;
    for (let step = 0; step < 20_000; step++) {
      const k = random(12);
      const op = random(100);
      if (op < 45) {
        expect(m.get(k)).toBe(touch(k));
      } else if (op < 95) {
        model = model.filter(([key]) => key !== k);
        if (model.length >= max) model.shift();
        model.push([k, step]);
        m.set(k, step);
      } else if (op < 99) {
        model = model.filter(([key]) => key !== k);
        m.delete(k);
      } else {
        model = [];
        m.clear();
      }
      expect(m.size).toBe(model.length);
    }
    for (const [k, v] of [...model]) expect(m.get(k)).toBe(v);
  });
});
