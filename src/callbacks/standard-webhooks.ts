// Standard Webhooks verification of inbound callbacks (the `standardwebhooks` package does the HMAC).
// A source may hold several secrets at once so that a sender can rotate without a window of refusals.
import { Webhook, WebhookVerificationError } from 'standardwebhooks';
import { badRequest, unauthorized } from '../errors.js';

const secretPattern = /^whsec_[A-Za-z0-9+/]+={0,2}$/;

/** Refuses a secret that is not `whsec_<base64>` of at least 16 bytes. */
export function checkSecret(secret: string): void {
  if (!secretPattern.test(secret) || Buffer.from(secret.slice(6), 'base64').length < 16) {
    throw badRequest('invalid_secret', 'a secret is "whsec_" followed by at least 16 bytes in base64');
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

/** A verifier accepting a signature by any of `secrets` within the package's 5-minute tolerance, both ways. */
export function createVerifier(secrets: string[]): Verifier {
  const hooks = secrets.map((s) => new Webhook(s));
  return {
    verify(body, headers) {
      const plain = {
        'webhook-id': one(headers['webhook-id']),
        'webhook-timestamp': one(headers['webhook-timestamp']),
        'webhook-signature': one(headers['webhook-signature']),
      };
      for (const hook of hooks) {
        try {
          hook.verify(body, plain, { jsonParse: false });
          return;
        } catch (err) {
          if (!(err instanceof WebhookVerificationError)) throw err;
          // The timestamp is checked before the signature and is the same for every secret.
          if (/timestamp too (old|new)/.test(err.message)) {
            throw unauthorized('timestamp_out_of_tolerance', 'webhook-timestamp is more than 5 minutes off');
          }
        }
      }
      throw unauthorized(
        'invalid_signature',
        'the webhook signature does not match any secret of this source',
      );
    },
  };
}
