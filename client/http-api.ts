// The client's HTTP side: authenticated JSON requests to the server's REST API, and the probe that tells
// a blocked WebSocket from a server that is down.
import { OncelyClientError } from './client-error.js';
import type { OncelyClientOptions } from './client-options.js';

export class HttpApi {
  private readonly fetchFn: typeof fetch;

  constructor(
    private readonly opts: Pick<OncelyClientOptions, 'url' | 'token' | 'fetch' | 'probeTimeoutMs'>,
  ) {
    const f = opts.fetch ?? globalThis.fetch;
    if (!f) throw new Error('no fetch available: pass options.fetch');
    this.fetchFn = f.bind(globalThis);
  }

  /** The user token: the fixed one, or a fresh one from the application's function. */
  async token(): Promise<string> {
    return typeof this.opts.token === 'function' ? await this.opts.token() : this.opts.token;
  }

  /** An authenticated JSON request to the server; errors become OncelyClientError with the server's code. */
  async request<T = unknown>(
    method: string,
    path: string,
    body?: unknown,
    init: { signal?: AbortSignal } = {},
  ): Promise<T> {
    const headers: Record<string, string> = { authorization: `Bearer ${await this.token()}` };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await this.fetchFn(this.opts.url.replace(/\/$/, '') + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: init.signal,
    });
    const text = await res.text();
    const parsed = text ? (JSON.parse(text) as unknown) : undefined;
    if (!res.ok) {
      const err = (parsed as { error?: { code?: string; message?: string } } | undefined)?.error;
      throw new OncelyClientError(
        err?.code ?? `http_${res.status}`,
        err?.message ?? res.statusText,
        res.status,
      );
    }
    return parsed as T;
  }

  /** Whether the server answers plain HTTP (`GET /healthz`); a 5xx is a proxy whose server is down. */
  async reachable(): Promise<boolean> {
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), this.opts.probeTimeoutMs ?? 5_000);
    try {
      const res = await this.fetchFn(`${this.opts.url.replace(/\/$/, '')}/healthz`, { signal: abort.signal });
      await res.body?.cancel();
      return res.status < 500;
    } catch {
      return false;
    } finally {
      clearTimeout(timer);
    }
  }
}
