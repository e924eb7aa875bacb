// `npm run bench -- startup [--runs 7]`
// Start-up time (spawn → first `200` from /healthz) and resident memory (RSS once healthy, and after 200
// API calls) of the `oncely` command running the compiled build in dist/, against the baseline measured in
// the same run: the same CLI run from its TypeScript source through tsx (what `npm start` did before).
// Runs alternate between the two so load on the machine hits both alike.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ensureServerBuilt } from '../test/server-build.js';
import { adminToken, noRateLimits, call, median, repoRoot } from './_processes.js';

interface Sample {
  startMs: number;
  rssIdleMb: number;
  rssAfterCallsMb: number;
}

const variants = {
  tsx: ['--import', 'tsx', 'src/cli.ts', 'serve'],
  compiled: ['bin/oncely.js', 'serve'],
} as const;

function rssMb(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('VmRSS:'));
  return Number(line?.split(/\s+/)[1]) / 1024;
}

async function healthy(url: string, child: ChildProcess): Promise<void> {
  for (;;) {
    if (child.exitCode !== null) throw new Error('the server exited during start-up');
    const ok = await fetch(`${url}/healthz`)
      .then((r) => r.ok)
      .catch(() => false);
    if (ok) return;
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function measure(args: readonly string[]): Promise<Sample> {
  const { freePort } = await import('../test/free-port.js');
  const dir = mkdtempSync(join(tmpdir(), 'oncely-bench-startup-'));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const started = performance.now();
  const child = spawn(process.execPath, [...args], {
    cwd: repoRoot,
    env: {
      ...process.env,
      ONCELY_HOST: '127.0.0.1',
      ONCELY_PORT: String(port),
      ONCELY_DATA_DIR: dir,
      ONCELY_DATABASE_URL: `sqlite:${join(dir, 'oncely.db')}`,
      ONCELY_ADMIN_TOKEN: adminToken,
      ONCELY_LOG_LEVEL: 'warn',
      ...noRateLimits,
      ONCELY_DEMO: '0',
    },
    stdio: 'ignore',
  });
  const exited = new Promise<void>((res) => child.once('exit', () => res()));
  try {
    await healthy(url, child);
    const startMs = performance.now() - started;
    await new Promise((r) => setTimeout(r, 500));
    const rssIdleMb = rssMb(child.pid!);
    const app = await call<{ apiKey: string }>(url, adminToken, 'POST', '/v1/apps', { name: 'startup' });
    for (let i = 0; i < 200; i++) {
      await call(url, app.apiKey, 'PUT', `/v1/users/u${i % 20}`, { displayName: `User ${i}` });
    }
    return { startMs, rssIdleMb, rssAfterCallsMb: rssMb(child.pid!) };
  } finally {
    child.kill('SIGTERM');
    await exited;
    rmSync(dir, { recursive: true, force: true });
  }
}

export default async function startup(args: string[]): Promise<void> {
  const { values } = parseArgs({ args, options: { runs: { type: 'string', default: '7' } } });
  const runs = Number(values.runs);
  ensureServerBuilt();
  const samples: Record<keyof typeof variants, Sample[]> = { tsx: [], compiled: [] };
  // One untimed start of each first: the file system cache is warm for both.
  for (const args of Object.values(variants)) await measure(args);
  for (let i = 0; i < runs; i++) {
    for (const [name, args] of Object.entries(variants)) {
      samples[name as keyof typeof variants].push(await measure(args));
    }
  }
  const summary = (xs: Sample[]) => ({
    startMs: Math.round(median(xs.map((x) => x.startMs))),
    rssIdleMb: Math.round(median(xs.map((x) => x.rssIdleMb)) * 10) / 10,
    rssAfterCallsMb: Math.round(median(xs.map((x) => x.rssAfterCallsMb)) * 10) / 10,
  });
  const base = summary(samples.tsx);
  const built = summary(samples.compiled);
  const ratio = (a: number, b: number) => Math.round((a / b) * 100) / 100;
  console.log(`start-up and memory, median of ${runs} runs each (baseline: the same CLI through tsx)`);
  console.table({ 'tsx (baseline)': base, compiled: built });
  console.log(
    JSON.stringify({
      startRatio: ratio(built.startMs, base.startMs),
      rssIdleRatio: ratio(built.rssIdleMb, base.rssIdleMb),
      rssAfterCallsRatio: ratio(built.rssAfterCallsMb, base.rssAfterCallsMb),
    }),
  );
}
