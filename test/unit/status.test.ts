import { describe, expect, it } from 'vitest';
import { deriveStatus } from '../../src/conversations/status.js';

describe('deriveStatus', () => {
  it('is sent while no recipient has it', () => {
    expect(deriveStatus(3, false, [{ deliveredSeq: 2, readSeq: 1 }])).toEqual({
      status: 'sent',
      recipients: 1,
      deliveredCount: 0,
      readCount: 0,
    });
  });

  it('is delivered once a recipient’s deliveredSeq reaches the seq', () => {
    expect(
      deriveStatus(3, false, [
        { deliveredSeq: 3, readSeq: 0 },
        { deliveredSeq: 1, readSeq: 0 },
      ]),
    ).toEqual({
      status: 'delivered',
      recipients: 2,
      deliveredCount: 1,
      readCount: 0,
    });
  });

  it('is read once a recipient’s readSeq reaches it; reading counts as delivered', () => {
    expect(
      deriveStatus(3, false, [
        { deliveredSeq: 0, readSeq: 5 },
        { deliveredSeq: 4, readSeq: 2 },
      ]),
    ).toEqual({
      status: 'read',
      recipients: 2,
      deliveredCount: 2,
      readCount: 1,
    });
  });

  it('is recalled whatever the markers say', () => {
    expect(deriveStatus(1, true, [{ deliveredSeq: 1, readSeq: 1 }]).status).toBe('recalled');
  });

  it('is sent with no recipients at all', () => {
    expect(deriveStatus(1, false, [])).toEqual({
      status: 'sent',
      recipients: 0,
      deliveredCount: 0,
      readCount: 0,
    });
  });
});
