// One webhook request on the wire: POST with keep-alive connections (undici), no redirect followed, a total
// timeout, and every connection made only to an address the SSRF guard has just checked.
import { setMaxListeners } from 'node:events';
import { performance } from 'node:perf_hooks';
import { Agent, request } from 'undici';
import { OncelyError } from '../errors.js';
import { checkUrlForm, guardedLookup } from './address-guard.js';

export interface SendResult {
  /** Null when no answer came. */
  statusCode: number | null;
  durationMs: number;
  /** Why it did not succeed: `HTTP 500`, `timeout after 10000 ms`, `webhook_url_not_allowed: …`, … */
  error: string | null;
  /** Cut short by `close()`: not an attempt to record. */
  aborted?: boolean;
}

export interface HttpSenderOptions {
  allowPrivate: boolean;
  timeoutMs: number;
}

const timeoutCodes = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT']);

function describe(err: unknown, timeoutMs: number): string {
  if (err instanceof OncelyError) return `${err.code}: ${err.message}`;
  // undici reports a refused lookup or connection as the cause of its own error.
  const e = err as Error & { cause?: Error & { code?: string }; code?: string };
  if (e.code && timeoutCodes.has(e.code)) return `timeout after ${timeoutMs} ms`;
  const inner = e.cause ?? e;
  return (inner.message || inner.code || String(err)).slice(0, 300);
}

export function createHttpSender(options: HttpSenderOptions) {
  const { allowPrivate, timeoutMs } = options;
  const closing = new AbortController();
  const formChecked = new Set<string>();
  // One signal shared by every request in flight.
  setMaxListeners(0, closing.signal);
  const agent = new Agent({
    connect: { lookup: guardedLookup(allowPrivate), timeout: timeoutMs },
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
    keepAliveTimeout: 4000,
  });

  return {
    /** Sends and never throws: the outcome, including why it failed, is the result. */
    async send(url: string, headers: object, body: string): Promise<SendResult> {
      const started = performance.now();
      const elapsed = () => Math.round(performance.now() - started);
      try {
        // A URL holding an address literal never reaches the lookup: its form is checked for every URL too
        // (once per URL: the check depends on nothing else, and parsing it per send showed in the profile).
        if (!formChecked.has(url)) {
          checkUrlForm(url, allowPrivate);
          if (formChecked.size >= 10_000) formChecked.clear();
          formChecked.add(url);
        }
        // undici's request follows no redirect: a 3xx is an answer like any other non-2xx.
        const res = await request(url, {
          method: 'POST',
          headers: { ...headers, 'content-type': 'application/json', 'user-agent': 'oncely-webhooks/1' },
          body,
          dispatcher: agent,
          // The timeouts are the agent's (connect, headers, body): a timer per request costs more than the rest.
          signal: closing.signal,
        });
        // Drained (up to a limit) so that the connection is reused; the receiver's words are not kept.
        await res.body.dump({ limit: 64 * 1024 });
        const ok = res.statusCode >= 200 && res.statusCode < 300;
        return {
          statusCode: res.statusCode,
          durationMs: elapsed(),
          error: ok ? null : `HTTP ${res.statusCode}`,
        };
      } catch (err) {
        if (closing.signal.aborted)
          return { statusCode: null, durationMs: elapsed(), error: 'closed', aborted: true };
        return { statusCode: null, durationMs: elapsed(), error: describe(err, timeoutMs) };
      }
    },
    /** Cuts every request in flight short (they are answered `aborted`) and closes the connections. */
    async close(): Promise<void> {
      closing.abort();
      await agent.destroy();
    },
  };
}

export type HttpSender = ReturnType<typeof createHttpSender>;
