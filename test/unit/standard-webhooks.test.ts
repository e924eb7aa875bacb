import { randomBytes } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import { createVerifier } from '../../src/callbacks/standard-webhooks.js';
import { OncelyError } from '../../src/errors.js';

const newSecret = () => `whsec_${randomBytes(24).toString('base64')}`;

/** Headers as a sender signs them with the reference package. */
function signed(secret: string, body: string, at = new Date(), id = 'msg_1') {
  return {
    'webhook-id': id,
    'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
    'webhook-signature': new Webhook(secret).sign(id, at, body),
  };
}

const codeOf = (fn: () => void) => {
  try {
    fn();
    return 'accepted';
  } catch (err) {
    if (err instanceof OncelyError) return err.code;
    throw err;
  }
};

describe('Standard Webhooks verifier', () => {
  const body = '{"msgId":"1","content":"hi"}';
  const secret = newSecret();
  const verifier = createVerifier([secret]);

  it('accepts what the reference package signs, and refuses any change', () => {
    expect(codeOf(() => verifier.verify(Buffer.from(body), signed(secret, body)))).toBe('accepted');
    const h = signed(secret, body);
    expect(codeOf(() => verifier.verify(Buffer.from(`${body} `), h))).toBe('invalid_signature');
    expect(codeOf(() => verifier.verify(Buffer.from(body), { ...h, 'webhook-id': 'msg_2' }))).toBe(
      'invalid_signature',
    );
    expect(codeOf(() => verifier.verify(Buffer.from(body), signed(newSecret(), body)))).toBe(
      'invalid_signature',
    );
  });

  it('refuses missing or malformed headers as an invalid signature', () => {
    const h = signed(secret, body);
    for (const broken of [
      {},
      { ...h, 'webhook-signature': '' },
      { ...h, 'webhook-signature': h['webhook-signature'].replace('v1,', 'v2,') },
      { ...h, 'webhook-timestamp': 'soon' },
      { ...h, 'webhook-id': undefined },
    ]) {
      expect(codeOf(() => verifier.verify(Buffer.from(body), broken))).toBe('invalid_signature');
    }
  });

  it('refuses timestamps more than five minutes off either way', () => {
    const off = (ms: number) => signed(secret, body, new Date(Date.now() + ms));
    expect(codeOf(() => verifier.verify(Buffer.from(body), off(-4 * 60_000)))).toBe('accepted');
    expect(codeOf(() => verifier.verify(Buffer.from(body), off(-6 * 60_000)))).toBe(
      'timestamp_out_of_tolerance',
    );
    expect(codeOf(() => verifier.verify(Buffer.from(body), off(6 * 60_000)))).toBe(
      'timestamp_out_of_tolerance',
    );
  });

  it('accepts any of several secrets and any of several signatures (rotation)', () => {
    const next = newSecret();
    const both = createVerifier([secret, next]);
    expect(codeOf(() => both.verify(Buffer.from(body), signed(next, body)))).toBe('accepted');
    const h = signed(secret, body);
    const two = { ...h, 'webhook-signature': `v1,AAAA ${h['webhook-signature']}` };
    expect(codeOf(() => verifier.verify(Buffer.from(body), two))).toBe('accepted');
  });
});
