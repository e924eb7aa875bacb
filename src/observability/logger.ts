// Structured logs (pino). Anything that can hold a secret is redacted by path, and URLs lose their
// `token` query parameter, so tokens, API keys and secrets never reach a log line.
import { pino, type Logger as PinoLogger } from 'pino';

export type Logger = PinoLogger;

export const redactPaths = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["webhook-signature"]',
  'headers.authorization',
  'authorization',
  'token',
  'apiKey',
  'secret',
  'secrets',
  '*.token',
  '*.apiKey',
  '*.secret',
  '*.secrets',
  '*.password',
];

/** Removes credentials carried in a query string (WebSocket `?token=`). */
export function redactUrl(url: string): string {
  return url.replace(/([?&](?:token|access_token|api_key)=)[^&#]*/gi, '$1[REDACTED]');
}

export function createLogger(level: string, destination?: NodeJS.WritableStream): Logger {
  const options = { level, redact: { paths: redactPaths, censor: '[REDACTED]' } };
  return destination ? pino(options, destination as never) : pino(options);
}
