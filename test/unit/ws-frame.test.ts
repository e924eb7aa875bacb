import { describe, expect, it } from 'vitest';
import * as ws from 'ws';
import { textFrame } from '../../src/realtime/ws-gateway.js';

// ws's own framing (not in its published types): the frames the gateway writes itself must be the bytes ws
// would have written for the same payload.
const Sender = (
  ws as unknown as {
    Sender: { frame(data: Buffer, options: Record<string, unknown>): Buffer[] };
  }
).Sender;
const wsFrame = (payload: Buffer) =>
  Buffer.concat(Sender.frame(payload, { fin: true, opcode: 1, mask: false, readOnly: true, rsv1: false }));

describe('server text frames', () => {
  it('are the bytes ws writes, at each length encoding', () => {
    for (const n of [0, 1, 125, 126, 127, 65_535, 65_536, 70_000]) {
      const payload = Buffer.alloc(n, 'a');
      const frame = textFrame(payload);
      expect(frame.equals(wsFrame(payload)), `length ${n}`).toBe(true);
      expect(frame.subarray(frame.length - n).equals(payload)).toBe(true);
    }
  });
});
