// The `oncely` command as an operator uses it: `migrate` on a fresh directory, a generated admin token
// printed once and kept (0600) in the data directory, and SIGTERM stopping the server cleanly.
import { afterAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  client,
  databaseUrl,
  freePort,
  repoRoot,
  spawnServer,
  tempDir,
  testStore,
  waitFor,
} from './harness.js';
import { ensureServerBuilt } from './server-build.js';

const run = promisify(execFile);
const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

function freshDir(): string {
  const dir = tempDir('oncely-cli-');
  dirs.push(dir);
  return dir;
}

async function oncely(args: string[], env: Record<string, string>) {
  ensureServerBuilt();
  return run(process.execPath, [join(repoRoot, 'bin/oncely.js'), ...args], {
    cwd: repoRoot,
    env: { ...process.env, ...env },
  });
}

describe('oncely CLI', () => {
  it('migrate creates the schema in a fresh database, and a second run finds it up to date', async () => {
    const dir = freshDir();
    // SQLite: the file's directory does not exist yet either.
    const sqliteFile = join(dir, 'nested', 'oncely.db');
    const url = testStore === 'sqlite' ? `sqlite:${sqliteFile}` : await databaseUrl(dir);
    const env = { ONCELY_DATABASE_URL: url, ONCELY_DATA_DIR: dir };
    const first = await oncely(['migrate'], env);
    expect(first.stdout).toMatch(/^applied: 0001_core/);
    if (testStore === 'sqlite') expect(existsSync(sqliteFile)).toBe(true);
    const second = await oncely(['migrate'], env);
    expect(second.stdout.trim()).toBe('schema is up to date');
  });

  it('a bad setting stops the start with a message naming the variable', async () => {
    const err = await oncely(['serve'], { ONCELY_PORT: 'eighty' }).catch(
      (e: { code: number; stderr: string }) => e,
    );
    expect(err).toMatchObject({ code: 1 });
    expect((err as { stderr: string }).stderr).toContain('ONCELY_PORT');
  });

  it('without ONCELY_ADMIN_TOKEN a token is generated, printed once, kept 0600 and reused; SIGTERM exits 0', async () => {
    const dir = freshDir();
    const port = await freePort();
    const env = { ONCELY_ADMIN_TOKEN: '', ONCELY_DEMO: '0' };
    const first = await spawnServer(dir, port, env);
    const file = join(dir, 'admin-token');
    const token = readFileSync(file, 'utf8').trim();
    expect(token.length).toBeGreaterThanOrEqual(32);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    // The command prints the token just after the server starts listening: wait for the line, then count it.
    await waitFor(() => first.output().includes(token));
    expect(first.output().split(token).length - 1).toBe(1);
    expect((await client(first.url, token).post('/v1/apps', { name: 'x' })).status).toBe(201);
    expect((await client(first.url, 'wrong').post('/v1/apps', { name: 'x' })).status).toBe(401);
    await first.kill('SIGTERM');
    expect(first.child.exitCode).toBe(0);

    const second = await spawnServer(dir, port, env);
    expect((await client(second.url, token).post('/v1/apps', { name: 'y' })).status).toBe(201);
    await second.kill('SIGTERM');
    expect(second.child.exitCode).toBe(0);
    expect(second.output()).not.toContain(token);
    expect(readFileSync(file, 'utf8').trim()).toBe(token);
  });
});
