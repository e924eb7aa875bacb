// Idempotency scopes: whose keys a key is unique among. See DESIGN.md, `GET /v1/idempotency-keys`.
import { badRequest } from '../errors.js';

export const appScope = 'app';
export const userScope = (userId: string) => `user:${userId}`;
export const sourceScope = (sourceId: string) => `source:${sourceId}`;

/** Validates a `scope` query value. */
export function parseScope(raw: string | undefined): string {
  if (raw === undefined || raw === '' || raw === appScope) return appScope;
  if (/^(user|source):.+$/.test(raw)) return raw;
  throw badRequest('invalid_scope', 'scope must be "app", "user:{userId}" or "source:{sourceId}"');
}
