// Standard Webhooks signing of outbound deliveries (the `standardwebhooks` package does the HMAC). During a
// secret's rotation both secrets sign, so a receiver that knows either one verifies.
import { randomBytes } from 'node:crypto';
import { Webhook } from 'standardwebhooks';

/** A new `whsec_` secret: 32 random bytes in base64. */
export function generateSecret(): string {
  return `whsec_${randomBytes(32).toString('base64')}`;
}

/** A recognisable, harmless fragment of a secret, for answers: never the secret itself. */
export function secretHint(secret: string): string {
  return `whsec_…${secret.slice(-4)}`;
}

export interface SignedHeaders {
  'webhook-id': string;
  'webhook-timestamp': string;
  'webhook-signature': string;
}

/** Signs with each secret; signers decode their key once and are kept per secret. */
export function createSigner() {
  const hooks = new Map<string, Webhook>();
  function hookFor(secret: string): Webhook {
    let hook = hooks.get(secret);
    if (!hook) {
      if (hooks.size > 10_000) hooks.clear();
      hook = new Webhook(secret);
      hooks.set(secret, hook);
    }
    return hook;
  }
  return {
    /** The three headers for `body`, signed at `nowMs` by every secret (space-separated `v1,` signatures). */
    sign(id: string, nowMs: number, body: string, secrets: readonly string[]): SignedHeaders {
      const at = new Date(nowMs);
      return {
        'webhook-id': id,
        'webhook-timestamp': String(Math.floor(nowMs / 1000)),
        'webhook-signature': secrets.map((s) => hookFor(s).sign(id, at, body)).join(' '),
      };
    },
  };
}

export type Signer = ReturnType<typeof createSigner>;
