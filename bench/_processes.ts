// Process helpers shared by benchmarks: every server and load generator runs in its own Node process, so
// none shares an event loop with what it measures.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const repoRoot = resolve(import.meta.dirname, '..');
export const adminToken = 'bench-admin-token-0123456789abcdef';
/** Benchmarks drive one app and a few users far past any production rate limit: the limits are off. */
export const noRateLimits = { ONCELY_RATE_LIMIT_APP: '0', ONCELY_RATE_LIMIT_USER: '0' };

export interface Child {
  process: ChildProcess;
  /** Resolves with the first line the child writes to stdout; rejects if it exits first. */
  firstLine: Promise<string>;
  /** The next line of stdout not yet read this way; `what` names the child in the error if it exits first. */
  nextLine(what: string): Promise<string>;
  stop(): Promise<void>;
}

/** Runs a TypeScript file of the repo (through tsx) as a child process; its stdin is a pipe for commands. */
export function startScript(
  args: string[],
  env: Record<string, string> = {},
  nodeArgs: string[] = [],
): Child {
  const child = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', ...args], {
    cwd: repoRoot,
    env: { ...process.env, ...env },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  let all = '';
  let partial = '';
  const queue: string[] = [];
  const waiting: Array<(line: string | undefined) => void> = [];
  const firstLine = new Promise<string>((res, rej) => {
    child.stdout!.on('data', (d: Buffer) => {
      all += d.toString();
      const nl = all.indexOf('\n');
      if (nl >= 0) res(all.slice(0, nl));
    });
    child.once('exit', (code) => rej(new Error(`${args.join(' ')} exited with ${code}: ${all}`)));
  });
  // A child read through nextLine never awaits firstLine; its rejection on exit must not go unhandled.
  firstLine.catch(() => undefined);
  child.stdout!.on('data', (d: Buffer) => {
    partial += d.toString();
    for (let nl = partial.indexOf('\n'); nl >= 0; nl = partial.indexOf('\n')) {
      const line = partial.slice(0, nl);
      partial = partial.slice(nl + 1);
      const w = waiting.shift();
      if (w) w(line);
      else queue.push(line);
    }
  });
  child.once('exit', () => {
    for (const w of waiting.splice(0)) w(undefined);
  });
  const exited = new Promise<void>((res) => child.once('exit', () => res()));
  return {
    process: child,
    firstLine,
    async nextLine(what) {
      const line =
        queue.length > 0
          ? queue.shift()
          : child.exitCode !== null
            ? undefined
            : await new Promise<string | undefined>((res) => waiting.push(res));
      if (line === undefined) throw new Error(`${what} exited before answering`);
      return line;
    },
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

/** Up to two minutes: a cold start through tsx on a machine busy with other jobs takes tens of seconds. */
async function waitHealthy(url: string): Promise<void> {
  for (let i = 0; i < 2_400; i++) {
    const ok = await fetch(`${url}/healthz`)
      .then((r) => r.ok)
      .catch(() => false);
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${url} did not become healthy`);
}

export interface OncelyProcess {
  url: string;
  pid: number | undefined;
  /** The process itself: `bench/_oncely-server.ts` answers commands on its stdin. */
  child: Child;
  stop(): Promise<void>;
}

export interface OncelyProcessOptions {
  /** The script and its arguments. Default `src/cli.ts serve`. */
  script?: string[];
  /** Extra Node flags (e.g. `--expose-gc`). */
  nodeArgs?: string[];
}

/**
 * oncely on a free loopback port with a fresh SQLite file; removed again on stop. With `profileDir`, a V8
 * CPU profile of the server is written there when it stops.
 */
export async function startOncelyProcess(
  env: Record<string, string> = {},
  profileDir?: string,
  options: OncelyProcessOptions = {},
): Promise<OncelyProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'oncely-bench-'));
  const { freePort } = await import('../test/free-port.js');
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const server = startScript(
    options.script ?? ['src/cli.ts', 'serve'],
    {
      ONCELY_HOST: '127.0.0.1',
      ONCELY_PORT: String(port),
      ONCELY_DATA_DIR: dir,
      ONCELY_DATABASE_URL: `sqlite:${join(dir, 'oncely.db')}`,
      ONCELY_ADMIN_TOKEN: adminToken,
      ONCELY_LOG_LEVEL: 'warn',
      ...noRateLimits,
      ...env,
    },
    [
      ...(options.nodeArgs ?? []),
      ...(profileDir ? ['--cpu-prof', '--cpu-prof-dir', resolve(profileDir)] : []),
    ],
  );
  try {
    await waitHealthy(url);
  } catch (err) {
    // A server that never came up is still stopped and its files removed.
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    url,
    pid: server.process.pid,
    child: server,
    async stop() {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A JSON API call that throws on any status ≥ 300. */
export async function call<T = unknown>(
  url: string,
  token: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<T> {
  const res = await fetch(url + path, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
  return (res.headers.get('content-type')?.includes('json') ? await res.json() : await res.text()) as T;
}

/** The sum of a Prometheus counter over the lines whose labels contain every given `k="v"`. */
export function counter(metrics: string, name: string, labels: Record<string, string> = {}): number {
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  let total = 0;
  for (const line of metrics.split('\n')) {
    if ((line.startsWith(`${name}{`) || line.startsWith(`${name} `)) && want.every((w) => line.includes(w))) {
      total += Number(line.slice(line.lastIndexOf(' ') + 1));
    }
  }
  return total;
}

/** User + system CPU time of a process (or `pid/task/tid`: one thread) so far, in ms (Linux /proc; NaN elsewhere). */
export function cpuMs(pid: number | string | undefined): number {
  const { user, system } = cpuSplitMs(pid);
  return user + system;
}

/** A process's CPU so far in user space and in the kernel (system calls: e.g. socket writes), ms. */
export function cpuSplitMs(pid: number | string | undefined): { user: number; system: number } {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    // utime and stime are fields 14 and 15 of stat, in clock ticks of 10 ms.
    return { user: Number(fields[11]) * 10, system: Number(fields[12]) * 10 };
  } catch {
    return { user: Number.NaN, system: Number.NaN };
  }
}

export const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** A fresh app with `count` two-member groups; each group's sender is its first member. */
export async function createBenchApp(
  url: string,
  count: number,
): Promise<{ apiKey: string; conversations: Array<{ id: string; from: string }> }> {
  const app = await call<{ apiKey: string }>(url, adminToken, 'POST', '/v1/apps', { name: 'bench' });
  const conversations: Array<{ id: string; from: string }> = [];
  for (let i = 0; i < count; i++) {
    const [a, b] = [`u${2 * i}`, `u${2 * i + 1}`];
    await call(url, app.apiKey, 'PUT', `/v1/users/${a}`, {});
    await call(url, app.apiKey, 'PUT', `/v1/users/${b}`, {});
    const conv = await call<{ id: string }>(url, app.apiKey, 'POST', '/v1/conversations', {
      kind: 'group',
      members: [a, b],
    });
    conversations.push({ id: conv.id, from: a });
  }
  return { apiKey: app.apiKey, conversations };
}
