// Payload fingerprints: a repeat must carry the same payload as the first, or it is a reused key.
import { createHash } from 'node:crypto';

/** JSON with object keys sorted at every level, so key order never changes a fingerprint. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

export function fingerprint(value: unknown): string {
  return sha256(canonicalJson(value));
}

export function sha256(text: string | Buffer): string {
  return createHash('sha256').update(text).digest('base64url');
}
