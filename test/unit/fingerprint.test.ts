import { describe, expect, it } from 'vitest';
import { canonicalJson, fingerprint } from '../../src/idempotency/fingerprint.js';

describe('payload fingerprint', () => {
  it('sorts object keys at every level', () => {
    expect(canonicalJson({ b: 1, a: { d: [2, { z: 1, y: 2 }], c: 'x' } })).toBe(
      '{"a":{"c":"x","d":[2,{"y":2,"z":1}]},"b":1}',
    );
  });

  it('does not depend on key order', () => {
    expect(fingerprint({ senderId: 'a', body: { type: 'text', text: 'hi' } })).toBe(
      fingerprint({ body: { text: 'hi', type: 'text' }, senderId: 'a' }),
    );
  });

  it('leaves out undefined members, as JSON does', () => {
    expect(canonicalJson({ a: 1, b: undefined })).toBe('{"a":1}');
    expect(fingerprint({ a: 1, clientMsgId: undefined })).toBe(fingerprint({ a: 1 }));
  });

  it('keeps array order, types and nulls apart', () => {
    expect(fingerprint([1, 2])).not.toBe(fingerprint([2, 1]));
    expect(fingerprint({ a: 1 })).not.toBe(fingerprint({ a: '1' }));
    expect(fingerprint({ a: null })).not.toBe(fingerprint({}));
    expect(canonicalJson(null)).toBe('null');
    expect(canonicalJson('x"y')).toBe('"x\\"y"');
  });

  it('tells different payloads apart', () => {
    expect(fingerprint({ body: { type: 'text', text: 'a' } })).not.toBe(
      fingerprint({ body: { type: 'text', text: 'b' } }),
    );
  });

  it('gives the same text as the straightforward form for any JSON value (fingerprints are stored)', () => {
    const reference = (value: unknown): string => {
      if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
      if (Array.isArray(value)) return `[${value.map(reference).join(',')}]`;
      const entries = Object.entries(value as Record<string, unknown>)
        .filter(([, v]) => v !== undefined)
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
      return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${reference(v)}`).join(',')}}`;
    };
    let seed = 7;
    const random = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
    const keys = ['a', 'B', 'é', 'z1', '10', '2', '', 'ü', '😀', 'type', 'text'];
    const make = (depth: number): unknown => {
      const r = random();
      if (depth > 3 || r < 0.3)
        return [null, true, 1.5, -0, 1e21, 'x"\\y', '😀', undefined][Math.floor(random() * 8)];
      if (r < 0.6) return Array.from({ length: Math.floor(random() * 4) }, () => make(depth + 1));
      return Object.fromEntries(keys.filter(() => random() < 0.4).map((k) => [k, make(depth + 1)]));
    };
    for (let i = 0; i < 500; i++) {
      const value = make(0);
      expect(canonicalJson(value)).toBe(reference(value));
    }
  });
});
