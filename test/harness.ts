// Test harness: starts the real oncely server — in this process, or as a child process that can be
// killed with SIGKILL — on a free loopback port with a temp dir, on this test project's store (a SQLite
// file in the dir, or a database of its own on PostgreSQL: test-store.ts), and talks to it over HTTP.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { loadConfig } from '../src/config.js';
import { createStore, startOncely, type Oncely } from '../src/main.js';
import type { Store } from '../src/store/store.js';
import { createLogger } from '../src/observability/logger.js';
import type { Clock } from '../src/clock.js';
import { ensureServerBuilt } from './server-build.js';
import { freePort } from './free-port.js';
import { waitFor } from './wait-for.js';
import { databaseUrl, dropDatabase, testStore, type StoreName } from './test-store.js';

export { freePort, waitFor };
export { databaseUrl, dropDatabase, testStore, type StoreName };

export const repoRoot = resolve(import.meta.dirname, '..');
export const adminToken = 'test-admin-token-0123456789abcdef';
/**
 * Tests of bad credentials fail many authentications from one address, and load tests drive one app hard:
 * the limits are raised out of their way (test/rate-limits.test.ts sets its own).
 */
const testRateLimits = {
  ONCELY_RATE_LIMIT_AUTH_FAILURES: '100000',
  ONCELY_RATE_LIMIT_APP: '1000000',
  ONCELY_RATE_LIMIT_USER: '1000000',
};

export function tempDir(prefix = 'oncely-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export interface TestServer {
  url: string;
  dir: string;
  oncely: Oncely;
  stop(): Promise<void>;
}

/**
 * The real server in this process (fast; use for everything but crash tests), on the project's store
 * unless `store` names another. The same `dir` gives the same database, so a restart finds its data.
 */
export async function startServer(
  env: Record<string, string> = {},
  opts: { clock?: Clock; dir?: string; store?: StoreName } = {},
): Promise<TestServer> {
  const dir = opts.dir ?? tempDir();
  const store = opts.store ?? testStore;
  const config = loadConfig({
    ONCELY_HOST: '127.0.0.1',
    ONCELY_PORT: '0',
    ONCELY_DATA_DIR: dir,
    ONCELY_DATABASE_URL: env.ONCELY_DATABASE_URL ?? (await databaseUrl(dir, store)),
    ONCELY_ADMIN_TOKEN: adminToken,
    ONCELY_LOG_LEVEL: process.env.ONCELY_TEST_LOG_LEVEL ?? 'silent',
    ...testRateLimits,
    ...env,
  });
  const oncely = await startOncely(config, { clock: opts.clock, logger: createLogger(config.logLevel) });
  return {
    url: oncely.url,
    dir,
    oncely,
    async stop() {
      await oncely.close();
      if (!opts.dir) {
        rmSync(dir, { recursive: true, force: true });
        if (!env.ONCELY_DATABASE_URL) await dropDatabase(dir, store);
      }
    },
  };
}

/** A migrated Store of `dir`'s database on the project's store, for tests below the HTTP layer. */
export async function openStore(dir: string, env: Record<string, string> = {}): Promise<Store> {
  const store = createStore(
    loadConfig({ ONCELY_DATA_DIR: dir, ONCELY_DATABASE_URL: await databaseUrl(dir), ...env }),
  );
  await store.migrate();
  return store;
}

export interface ServerProcess {
  url: string;
  port: number;
  dir: string;
  child: ChildProcess;
  /** Everything the process wrote to stdout and stderr. */
  output(): string;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

/** The real server as a child process (`oncely serve`), for kill -9 and restart tests; `dir` names its database. */
export async function spawnServer(
  dir: string,
  port: number,
  env: Record<string, string> = {},
  opts: { fromSource?: boolean; store?: StoreName } = {},
): Promise<ServerProcess> {
  const database = env.ONCELY_DATABASE_URL ?? (await databaseUrl(dir, opts.store ?? testStore));
  // The `oncely` command as installed (the build in dist/, brought up to date first), or the source through tsx.
  if (!opts.fromSource) ensureServerBuilt();
  const command = opts.fromSource
    ? ['--import', 'tsx', join(repoRoot, 'src/cli.ts'), 'serve']
    : [join(repoRoot, 'bin/oncely.js'), 'serve'];
  const child = spawn(process.execPath, command, {
    cwd: repoRoot,
    env: {
      ...process.env,
      ONCELY_HOST: '127.0.0.1',
      ONCELY_PORT: String(port),
      ONCELY_DATA_DIR: dir,
      ONCELY_DATABASE_URL: database,
      ONCELY_ADMIN_TOKEN: adminToken,
      ONCELY_LOG_LEVEL: 'warn',
      ...testRateLimits,
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const url = `http://127.0.0.1:${port}`;
  const exited = new Promise<void>((res) => child.once('exit', () => res()));
  await waitFor(async () => {
    if (child.exitCode !== null) throw new Error(`server exited early:\n${out}`);
    const res = await fetch(`${url}/healthz`).catch(() => undefined);
    return res?.ok === true;
    // A cold start takes seconds alone and over 30 s on a 2-core machine shared by several test runs.
  }, 60_000);
  return {
    url,
    port,
    dir,
    child,
    output: () => out,
    async kill(signal: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
  };
}

export interface ApiResponse<T = any> {
  status: number;
  headers: Headers;
  body: T;
}

/** A small HTTP client bound to one base URL and bearer token. */
export function client(baseUrl: string, token?: string) {
  async function call<T = any>(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<ApiResponse<T>> {
    const init: RequestInit = { method, headers: { ...headers } };
    if (token) (init.headers as Record<string, string>).authorization = `Bearer ${token}`;
    if (body !== undefined) {
      (init.headers as Record<string, string>)['content-type'] ??= 'application/json';
      init.body = typeof body === 'string' ? body : JSON.stringify(body);
    }
    const res = await fetch(baseUrl + path, init);
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      /* not JSON: keep the text */
    }
    return { status: res.status, headers: res.headers, body: parsed as T };
  }
  return {
    call,
    get: <T = any>(path: string, headers?: Record<string, string>) =>
      call<T>('GET', path, undefined, headers),
    post: <T = any>(path: string, body?: unknown, headers?: Record<string, string>) =>
      call<T>('POST', path, body, headers),
    put: <T = any>(path: string, body?: unknown, headers?: Record<string, string>) =>
      call<T>('PUT', path, body, headers),
    delete: <T = any>(path: string, headers?: Record<string, string>) =>
      call<T>('DELETE', path, undefined, headers),
  };
}

export type Client = ReturnType<typeof client>;

export interface TestApp {
  appId: string;
  apiKey: string;
  api: Client;
  /** Creates users (if needed) and returns a client with each user's token. */
  user(userId: string): Promise<Client & { token: string; userId: string }>;
  group(members: string[], extra?: Record<string, unknown>): Promise<string>;
}

/** A fresh app with its own API key, so tests never see each other's data. */
export async function createApp(baseUrl: string, name = 'test'): Promise<TestApp> {
  const admin = client(baseUrl, adminToken);
  const res = await admin.post('/v1/apps', { name });
  if (res.status !== 201) throw new Error(`app creation failed: ${res.status} ${JSON.stringify(res.body)}`);
  const { id: appId, apiKey } = res.body as { id: string; apiKey: string };
  const api = client(baseUrl, apiKey);
  return {
    appId,
    apiKey,
    api,
    async user(userId) {
      await api.put(`/v1/users/${userId}`, { displayName: userId });
      const tok = await api.post(`/v1/users/${userId}/tokens`, { ttlSeconds: 3600 });
      if (tok.status !== 201) throw new Error(`token failed: ${tok.status} ${JSON.stringify(tok.body)}`);
      return { ...client(baseUrl, tok.body.token), token: tok.body.token as string, userId };
    },
    async group(members, extra = {}) {
      for (const m of members) await api.put(`/v1/users/${m}`, {});
      const conv = await api.post('/v1/conversations', { kind: 'group', members, ...extra });
      if (conv.status !== 201) throw new Error(`group failed: ${conv.status} ${JSON.stringify(conv.body)}`);
      return conv.body.id as string;
    },
  };
}

export const text = (t: string) => ({ type: 'text', text: t });
