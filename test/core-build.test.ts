// The `oncely` command as installed: the compiled build in dist/ (no TypeScript at run time), with source
// maps, and start-up failures reported as one line naming what to change.
import { execFile } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminToken, client, freePort, repoRoot, spawnServer, tempDir } from './harness.js';
import { ensureServerBuilt } from './server-build.js';

const run = promisify(execFile);
const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

function freshDir(): string {
  const dir = tempDir('oncely-build-');
  dirs.push(dir);
  return dir;
}

/** Runs `oncely serve` (the compiled command) expecting it to fail; its stderr. */
async function failedStart(env: Record<string, string>): Promise<{ code: number; stderr: string }> {
  const dir = freshDir();
  const result = await run(process.execPath, [join(repoRoot, 'bin/oncely.js'), 'serve'], {
    cwd: dir,
    env: {
      ...process.env,
      ONCELY_HOST: '127.0.0.1',
      ONCELY_DATA_DIR: dir,
      ONCELY_DATABASE_URL: `sqlite:${join(dir, 'oncely.db')}`,
      ONCELY_ADMIN_TOKEN: adminToken,
      ONCELY_LOG_LEVEL: 'warn',
      ...env,
    },
    timeout: 30_000,
  }).then(
    () => ({ code: 0, stderr: '' }),
    (e: { code: number; stderr: string }) => e,
  );
  return { code: result.code, stderr: result.stderr };
}

beforeAll(() => ensureServerBuilt(), 120_000);

describe('the compiled build', () => {
  it('the oncely command runs dist/ with source maps, serves the API and the page, and stops on SIGTERM', async () => {
    expect(existsSync(join(repoRoot, 'dist/src/cli.js'))).toBe(true);
    expect(existsSync(join(repoRoot, 'dist/src/cli.js.map'))).toBe(true);
    // The example plugin is compiled with the server and loads as plain JavaScript.
    const env = {
      ONCELY_DEMO: '0',
      ONCELY_PLUGIN: join(repoRoot, 'dist/examples/plugins/keyword-filter.js'),
    };
    const server = await spawnServer(freshDir(), await freePort(), env);
    try {
      const api = client(server.url, adminToken);
      expect((await api.post('/v1/apps', { name: 'built' })).status).toBe(201);
      expect((await api.get('/openapi.json')).body.openapi).toBe('3.1.0');
      const page = await fetch(`${server.url}/`);
      expect(page.status).toBe(200);
      expect(await page.text()).toContain('<div id="app">');
      expect(server.output()).not.toMatch(/tsx/);
    } finally {
      await server.kill('SIGTERM');
    }
    expect(server.child.exitCode).toBe(0);
  });
});

describe('start-up failures are one line, not a stack', () => {
  it('a TypeScript plugin is refused with a message saying to compile it', async () => {
    const { code, stderr } = await failedStart({
      ONCELY_PLUGIN: join(repoRoot, 'examples/plugins/keyword-filter.ts'),
    });
    expect(code).toBe(1);
    expect(stderr.trim().split('\n')).toHaveLength(1);
    expect(stderr).toMatch(/keyword-filter\.ts is TypeScript: compile it to JavaScript/);
  });

  let busy: Server;
  let busyPort: number;
  beforeAll(async () => {
    busyPort = await freePort();
    busy = createServer();
    await new Promise<void>((res) => busy.listen(busyPort, '127.0.0.1', res));
  });
  afterAll(() => new Promise<void>((res) => busy.close(() => res())));

  it('a port in use names ONCELY_PORT', async () => {
    const { code, stderr } = await failedStart({ ONCELY_PORT: String(busyPort) });
    expect(code).toBe(1);
    expect(stderr.trim().split('\n')).toEqual([
      `oncely serve: ONCELY_PORT: 127.0.0.1:${busyPort} is already in use; stop what listens there or choose another ONCELY_PORT`,
    ]);
  });

  it('an unknown database URL scheme lists the supported ones', async () => {
    const { code, stderr } = await failedStart({ ONCELY_DATABASE_URL: 'mysql://root:secret@db/oncely' });
    expect(code).toBe(1);
    const lines = stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      /^oncely serve: ONCELY_DATABASE_URL: unsupported scheme "mysql:"; supported: sqlite:/,
    );
    expect(lines[0]).toContain('postgres://');
    expect(stderr).not.toContain('secret');
  });

  it('an address that is not this machine names ONCELY_HOST', async () => {
    const { code, stderr } = await failedStart({ ONCELY_HOST: '192.0.2.1', ONCELY_PORT: '0' });
    expect(code).toBe(1);
    expect(stderr.trim().split('\n')).toEqual([
      'oncely serve: ONCELY_HOST: "192.0.2.1" is not an address of this machine',
    ]);
  });

  it('an unexpected failure is one line too, with the stack only under ONCELY_LOG_LEVEL=debug', async () => {
    const dir = freshDir();
    // A regular file where the database's directory should be: the store cannot be opened.
    const notADir = join(dir, 'file');
    await run('touch', [notADir]);
    const plain = await failedStart({ ONCELY_DATABASE_URL: `sqlite:${join(notADir, 'oncely.db')}` });
    expect(plain.code).toBe(1);
    expect(plain.stderr.trim().split('\n')).toHaveLength(1);
    expect(plain.stderr).toMatch(/^oncely serve: .*ONCELY_LOG_LEVEL=debug prints the stack/);
    const debug = await failedStart({
      ONCELY_DATABASE_URL: `sqlite:${join(notADir, 'oncely.db')}`,
      ONCELY_LOG_LEVEL: 'debug',
    });
    expect(debug.stderr).toMatch(/\n\s+at /);
    // Source maps: the compiled build's stack names the TypeScript file and line.
    expect(debug.stderr).toMatch(/src\/store\/sqlite\/sqlite-store\.ts:\d+/);
  });
});
