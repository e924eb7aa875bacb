// Cursor encoding: a position of one store's stream, carrying that store's epoch.
import { describe, expect, it } from 'vitest';
import { OncelyError } from '../../src/errors.js';
import { CursorCodec } from '../../src/realtime/cursor.js';

const codeOf = (f: () => unknown) => {
  try {
    f();
  } catch (err) {
    return err instanceof OncelyError ? `${err.status} ${err.code}` : String(err);
  }
  return 'accepted';
};

describe('CursorCodec', () => {
  const here = new CursorCodec('Ab3_-xYz09Q');

  it('decodes the positions it encodes', () => {
    for (const pos of [0, 1, 42, 2 ** 40, Number.MAX_SAFE_INTEGER % 1e15]) {
      expect(here.decode(here.encode(pos))).toBe(pos);
    }
  });

  it('refuses a cursor of another epoch (another database, or this one before a restore) with 400 invalid_cursor', () => {
    const elsewhere = new CursorCodec('Zz9-other00');
    expect(codeOf(() => here.decode(elsewhere.encode(5)))).toBe('400 invalid_cursor');
  });

  it('refuses cursors without an epoch (the earlier v1 format) and anything not issued', () => {
    const v1 = Buffer.from('v1:5').toString('base64url');
    for (const bad of [
      v1,
      '',
      'nope',
      '!!!',
      'x'.repeat(200),
      Buffer.from('v2:Ab3_-xYz09Q:-1').toString('base64url'),
    ]) {
      expect(codeOf(() => here.decode(bad))).toBe('400 invalid_cursor');
    }
  });
});
