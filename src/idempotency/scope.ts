// Idempotency scopes: whose keys a key is unique among. See docs/design.md, "The write path".
import { OncelyError } from '../errors.js';

export const appScope = 'app';
export const userScope = (userId: string) => `user:${userId}`;
export const sourceScope = (sourceId: string) => `source:${sourceId}`;
/** Keys of messages consumed from the queue consumer `name` (docs/design.md, "Inbound adapters"). */
export const queueScope = (name: string) => `queue:${name}`;

/** Validates a `scope` query value. */
export function parseScope(raw: string | undefined): string {
  if (raw === undefined || raw === '' || raw === appScope) return appScope;
  if (/^(user|source|queue):.+$/.test(raw)) return raw;
  throw OncelyError.of(
    'invalid_scope',
    'scope must be "app", "user:{userId}", "source:{sourceId}" or "queue:{name}"',
  );
}
