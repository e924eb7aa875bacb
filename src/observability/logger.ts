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

const credentialParameters = new Set(['token', 'access_token', 'api_key']);

/**
 * A query parameter's name as the server reads it (`%74oken` and `t%6Fken` are `token` to Fastify's parser and
 * to URLSearchParams). A name that does not decode is kept as written: no parser reads it as a credential.
 */
function parameterName(raw: string): string {
  try {
    return decodeURIComponent(raw.replace(/\+/g, ' ')).toLowerCase();
  } catch {
    return raw.toLowerCase();
  }
}

/**
 * Removes credentials carried in a query string (WebSocket `?token=`), whatever the encoding of their name:
 * the names are compared after decoding, as the server compares them when it reads the token.
 */
export function redactUrl(url: string): string {
  const queryAt = url.indexOf('?');
  if (queryAt === -1) return url;
  const hashAt = url.indexOf('#', queryAt);
  const end = hashAt === -1 ? url.length : hashAt;
  const query = url
    .slice(queryAt + 1, end)
    .split('&')
    .map((part) => {
      const eq = part.indexOf('=');
      const name = eq === -1 ? part : part.slice(0, eq);
      return eq !== -1 && credentialParameters.has(parameterName(name)) ? `${name}=[REDACTED]` : part;
    })
    .join('&');
  return `${url.slice(0, queryAt + 1)}${query}${url.slice(end)}`;
}

export function createLogger(level: string, destination?: NodeJS.WritableStream): Logger {
  const options = { level, redact: { paths: redactPaths, censor: '[REDACTED]' } };
  return destination ? pino(options, destination as never) : pino(options);
}
