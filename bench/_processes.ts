// Process helpers shared by benchmarks: every server and load generator runs in its own Node process, so
// none shares an event loop with what it measures.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const repoRoot = resolve(import.meta.dirname, '..');
export const adminToken = 'bench-admin-token';

export interface Child {
  process: ChildProcess;
  /** Resolves with the first line the child writes to stdout. */
  firstLine: Promise<string>;
  stop(): Promise<void>;
}

/** Runs a TypeScript file of the repo (through tsx) as a child process. */
export function startScript(
  args: string[],
  env: Record<string, string> = {},
  nodeArgs: string[] = [],
): Child {
  const child = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', ...args], {
    cwd: repoRoot,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  const firstLine = new Promise<string>((res, rej) => {
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const nl = out.indexOf('\n');
      if (nl >= 0) res(out.slice(0, nl));
    });
    child.once('exit', (code) => rej(new Error(`${args.join(' ')} exited with ${code}: ${out}`)));
  });
  const exited = new Promise<void>((res) => child.once('exit', () => res()));
  return {
    process: child,
    firstLine,
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

async function waitHealthy(url: string): Promise<void> {
  for (let i = 0; i < 600; i++) {
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
  stop(): Promise<void>;
}

/**
 * `oncely serve` on a free loopback port with a fresh SQLite file; removed again on stop. With `profileDir`,
 * a V8 CPU profile of the server is written there when it stops.
 */
export async function startOncelyProcess(
  env: Record<string, string> = {},
  profileDir?: string,
): Promise<OncelyProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'oncely-bench-'));
  const { freePort } = await import('../test/harness.js');
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const server = startScript(
    ['src/cli.ts', 'serve'],
    {
      ONCELY_HOST: '127.0.0.1',
      ONCELY_PORT: String(port),
      ONCELY_DATA_DIR: dir,
      ONCELY_DATABASE_URL: `sqlite:${join(dir, 'oncely.db')}`,
      ONCELY_ADMIN_TOKEN: adminToken,
      ONCELY_LOG_LEVEL: 'warn',
      ...env,
    },
    profileDir ? ['--cpu-prof', '--cpu-prof-dir', resolve(profileDir)] : [],
  );
  await waitHealthy(url);
  return {
    url,
    pid: server.process.pid,
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

/** User + system CPU time of a process so far, in ms (Linux /proc; NaN elsewhere). */
export function cpuMs(pid: number | undefined): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    // utime and stime are fields 14 and 15 of stat, in clock ticks of 10 ms.
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return Number.NaN;
  }
}

export const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
