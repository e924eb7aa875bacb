// Standard Webhooks verification of inbound callbacks: HMAC-SHA256 over `id.timestamp.body`, `v1,<base64>`
// signatures, `whsec_<base64>` secrets. A source may hold several secrets at once so that a sender can rotate
// without a window of refusals.
import { createHmac, createSecretKey, timingSafeEqual } from 'node:crypto';
import { OncelyError } from '../errors.js';

const secretPattern = /^whsec_[A-Za-z0-9+/]+={0,2}$/;

/** Refuses a secret that is not `whsec_<base64>` of at least 16 bytes. */
export function checkSecret(secret: string): void {
  if (!secretPattern.test(secret) || Buffer.from(secret.slice(6), 'base64').length < 16) {
    throw OncelyError.of('invalid_secret', 'a secret is "whsec_" followed by at least 16 bytes in base64');
  }
}

/** A recognisable, harmless fragment of a secret, for answers: never the secret itself. */
export function secretHint(secret: string): string {
  return `whsec_…${secret.slice(-4)}`;
}

/** Request headers, lower-cased (Node's); only the three `webhook-*` ones are read. */
export type SignatureHeaders = Record<string, string | string[] | undefined>;

export interface Verifier {
  /** Throws 401 `invalid_signature` or `timestamp_out_of_tolerance` unless one secret signed this body. */
  verify(body: Buffer, headers: SignatureHeaders): void;
}

const one = (v: string | string[] | undefined) => (Array.isArray(v) ? v.join(' ') : (v ?? ''));

/** Seconds a `webhook-timestamp` may be off from this server's time, either way (the specification's 5 minutes). */
const toleranceSeconds = 5 * 60;

/**
 * A verifier accepting a signature by any of `secrets` within the 5-minute tolerance, both ways. Each secret
 * becomes a key object once; a verification is one HMAC-SHA256 per secret (node:crypto) and constant-time
 * compares against each `v1,` signature of the header.
 */
export function createVerifier(secrets: string[]): Verifier {
  const keys = secrets.map((s) => createSecretKey(Buffer.from(s.slice('whsec_'.length), 'base64')));
  const refused = () =>
    OncelyError.of('invalid_signature', 'the webhook signature does not match any secret of this source');
  return {
    verify(body, headers) {
      const id = one(headers['webhook-id']);
      const timestamp = one(headers['webhook-timestamp']);
      const signatures = one(headers['webhook-signature'])
        .split(' ')
        .flatMap((s) => (s.startsWith('v1,') ? [Buffer.from(s.slice(3), 'base64')] : []));
      const seconds = /^\d{1,15}$/.test(timestamp) ? Number(timestamp) : Number.NaN;
      if (!id || Number.isNaN(seconds) || signatures.length === 0) throw refused();
      if (Math.abs(Math.floor(Date.now() / 1000) - seconds) > toleranceSeconds) {
        throw OncelyError.of('timestamp_out_of_tolerance', 'webhook-timestamp is more than 5 minutes off');
      }
      for (const key of keys) {
        const expected = createHmac('sha256', key).update(`${id}.${seconds}.`).update(body).digest();
        for (const signature of signatures) {
          if (signature.length === expected.length && timingSafeEqual(signature, expected)) return;
        }
      }
      throw refused();
    },
  };
}
