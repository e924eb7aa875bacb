import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  closeCodeMeaning,
  closeCodes,
  CloseCodes,
  closingErrorCodes,
  reconnectsAtOnce,
} from '../../client/close-codes.js';
import { ServerFrame } from '../../client/protocol.js';
import { parseClientFrame } from '../../src/realtime/frames.js';

describe('the close-code table', () => {
  it('gives every close code one row, and the client reads its meaning from it', () => {
    const numbers = Object.values(closeCodes).map((m) => m.code);
    expect(new Set(numbers).size).toBe(numbers.length);
    expect(CloseCodes.unauthorized).toBe(4401);
    expect(closeCodeMeaning(4400)).toMatchObject({ forgetCursor: true, refused: true });
    expect(closeCodeMeaning(1001)).toMatchObject({ reconnect: 'at-once', refused: false });
    // A close the server never sends (the network dropped): no meaning, the client's plain backoff.
    expect(closeCodeMeaning(1006)).toBeUndefined();
    expect(closeCodeMeaning(undefined)).toBeUndefined();
  });

  it('names as closing errors exactly the error codes sent before a close', () => {
    expect([...closingErrorCodes].sort()).toEqual(
      Object.values(closeCodes)
        .flatMap((m) => m.errorCodes)
        .sort(),
    );
    expect(closingErrorCodes.has('too_many_connections')).toBe(true);
    expect(closingErrorCodes.has('not_member')).toBe(false);
  });

  it('reconnects at once after a going-away, a slow reader or an expired token, and only then', () => {
    expect(reconnectsAtOnce(1001, undefined)).toBe(true);
    expect(reconnectsAtOnce(4008, 'slow_consumer')).toBe(true);
    // 4401 waits out the backoff (the client's token may be bad) unless the token merely expired.
    expect(reconnectsAtOnce(4401, 'token_expired')).toBe(true);
    expect(reconnectsAtOnce(4401, 'invalid_token')).toBe(false);
    expect(reconnectsAtOnce(4429, 'too_many_connections')).toBe(false);
    expect(reconnectsAtOnce(1006, undefined)).toBe(false);
  });

  it("is the README's close-code table, row for row", () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const section = readme.slice(readme.indexOf('**Close codes.**'));
    const table = section.slice(0, section.indexOf('\n\n', section.indexOf('| code')));
    const documented = [...table.matchAll(/^\| `(\d+)`/gm)].map((m) => Number(m[1]));
    expect(documented).toEqual(Object.values(closeCodes).map((m) => m.code));
  });
});

describe('client frames, checked against the protocol schemas', () => {
  it('accepts each frame type the protocol defines', () => {
    const frames = [
      { type: 'auth', token: 't' },
      { type: 'send', clientMsgId: 'c1', conversationId: 'g', body: { type: 'text', text: 'hi' } },
      { type: 'resume', cursor: 'v1.0' },
      { type: 'receipt', conversationId: 'g', readSeq: 3 },
      { type: 'recall', messageId: 'm1' },
      { type: 'typing', conversationId: 'g' },
      { type: 'ping' },
    ];
    for (const frame of frames) expect(parseClientFrame(JSON.stringify(frame))).toEqual({ frame });
  });

  it('says which frame is wrong and lists the frame types for an unknown one', () => {
    expect(parseClientFrame('{"type":"send","clientMsgId":"c","conversationId":"g"}')).toMatchObject({
      problem: expect.stringMatching(/^invalid send frame: /),
    });
    expect(parseClientFrame('{"type":"shout"}')).toEqual({
      problem: 'unknown frame type: expected auth, send, resume, receipt, recall, typing or ping',
    });
  });
});

describe('server frames', () => {
  it('are the ones README "Realtime" lists, the answer to a fresh token included', () => {
    const types = ServerFrame.anyOf.map((frame) => frame.properties.type.const as string);
    expect(types).toEqual([
      'ready',
      'authenticated',
      'event',
      'receipt.updated',
      'sent',
      'error',
      'typing',
      'presence',
      'pong',
    ]);
  });
});
