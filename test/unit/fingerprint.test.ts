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
});
