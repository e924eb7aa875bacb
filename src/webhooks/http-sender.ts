// One webhook request on the wire: POST with keep-alive connections (undici), no redirect followed, a total
// timeout, and every connection made only to an address the SSRF guard has just checked.
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

function describe(err: unknown, timedOut: boolean, timeoutMs: number): string {
  if (timedOut) return `timeout after ${timeoutMs} ms`;
  if (err instanceof OncelyError) return `${err.code}: ${err.message}`;
  // undici reports a refused lookup or connection as the cause of its own error.
  const e = err as Error & { cause?: Error & { code?: string }; code?: string };
  const inner = e.cause ?? e;
  return (inner.message || inner.code || String(err)).slice(0, 300);
}

export function createHttpSender(options: HttpSenderOptions) {
  const { allowPrivate, timeoutMs } = options;
  const closing = new AbortController();
  const agent = new Agent({
    connect: { lookup: guardedLookup(allowPrivate), timeout: timeoutMs },
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
    keepAliveTimeout: 4000,
  });

  return {
    /** Sends and never throws: the outcome, including why it failed, is the result. */
    async send(url: string, headers: Record<string, string>, body: string): Promise<SendResult> {
      const started = performance.now();
      const elapsed = () => Math.round(performance.now() - started);
      const timeout = AbortSignal.timeout(timeoutMs);
      const signal = AbortSignal.any([timeout, closing.signal]);
      try {
        // A URL holding an address literal never reaches the lookup: its form is checked on every send too.
        checkUrlForm(url, allowPrivate);
        // undici's request follows no redirect: a 3xx is an answer like any other non-2xx.
        const res = await request(url, {
          method: 'POST',
          headers: { ...headers, 'content-type': 'application/json', 'user-agent': 'oncely-webhooks/1' },
          body,
          dispatcher: agent,
          signal,
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
        return { statusCode: null, durationMs: elapsed(), error: describe(err, timeout.aborted, timeoutMs) };
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
