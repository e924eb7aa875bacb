// A queue message is one batch item; anything else is poison with a reason saying what is wrong.
import { describe, expect, it } from 'vitest';
import { decodeQueueMessage } from '../../src/consumers/queue-message.js';

const item = {
  idempotencyKey: 'k1',
  from: 'alice',
  conversationId: 'c1',
  body: { type: 'text', text: 'hi' },
};

describe('queue message', () => {
  it('decodes a batch item, to a conversation or to a user', () => {
    expect(decodeQueueMessage(JSON.stringify(item))).toEqual({ item });
    const direct = { ...item, conversationId: undefined, to: 'bob' };
    expect(decodeQueueMessage(JSON.stringify(direct))).toEqual({
      item: { ...item, conversationId: undefined, to: 'bob' },
    });
  });

  it.each([
    ['not JSON', '{"idempotencyKey":', 'invalid_json'],
    ['a JSON array', '[]', 'invalid_item'],
    ['a missing body', JSON.stringify({ ...item, body: undefined }), 'invalid_item'],
    ['an unknown field', JSON.stringify({ ...item, extra: 1 }), 'invalid_item'],
    ['both conversationId and to', JSON.stringify({ ...item, to: 'bob' }), 'invalid_item'],
    ['neither conversationId nor to', JSON.stringify({ ...item, conversationId: undefined }), 'invalid_item'],
  ])('refuses %s', (_what, payload, reason) => {
    const decoded = decodeQueueMessage(payload);
    expect(decoded).toMatchObject({ reason });
    expect((decoded as { message: string }).message.length).toBeGreaterThan(10);
  });
});
