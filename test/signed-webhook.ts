import { randomBytes } from 'node:crypto';
import { Webhook } from 'standardwebhooks';

/**
 * The headers a sender puts on a JSON body it signs with the standardwebhooks package itself (not with oncely's
 * code): `webhook-id` (random unless given), `webhook-timestamp` (now unless given) and `webhook-signature`.
 */
export function signedHeaders(
  secret: string,
  body: string,
  opts: { id?: string; at?: Date } = {},
): Record<string, string> {
  const id = opts.id ?? `msg_${randomBytes(8).toString('hex')}`;
  const at = opts.at ?? new Date();
  return {
    'content-type': 'application/json',
    'webhook-id': id,
    'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
    'webhook-signature': new Webhook(secret).sign(id, at, body),
  };
}
