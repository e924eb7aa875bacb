// The one error type of oncely: a stable snake_case `code` plus the HTTP status it maps to.
// Thrown where a rule lives; turned into {"error":{code,message}} in one place (http/error-mapper.ts).

import { STATUS_CODES } from 'node:http';

export class OncelyError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: Record<string, unknown>,
    /** For passing failures (503): when the caller should try again, sent as `Retry-After`. */
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
    this.name = 'OncelyError';
  }
}

export const badRequest = (code: string, message: string) => new OncelyError(400, code, message);
export const unauthorized = (code: string, message: string) => new OncelyError(401, code, message);
export const forbidden = (code: string, message: string) => new OncelyError(403, code, message);
export const notFound = (code: string, message: string) => new OncelyError(404, code, message);
export const conflict = (code: string, message: string) => new OncelyError(409, code, message);
export const unprocessable = (code: string, message: string) => new OncelyError(422, code, message);

/**
 * The error shape written straight to a socket, for the refusals made before any HTTP framework answers
 * (a malformed request, a refused WebSocket upgrade): the same `{"error":{code,message}}` as every answer.
 */
export function rawHttpError(
  status: number,
  code: string,
  message: string,
  headers: Record<string, string> = {},
): string {
  const body = JSON.stringify({ error: { code, message } });
  const head = Object.entries({
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': String(Buffer.byteLength(body)),
    Connection: 'close',
    ...headers,
  })
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('');
  return `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\n${head}\r\n${body}`;
}

/**
 * The database cannot be reached (down, restarting, refusing connections). Nothing was half-written: the
 * transaction rolled back, or its commit's outcome is unknown and a retry with the same idempotency key
 * replays it (invariant 1). The instance reconnects by itself.
 */
export function storeUnavailable(message: string, cause?: unknown): OncelyError {
  const error = new OncelyError(503, 'store_unavailable', message, undefined, 1);
  if (cause !== undefined) error.cause = cause;
  return error;
}
