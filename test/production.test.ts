// What README "Running in production" tells an operator, checked: the systemd unit in examples/ is a valid unit
// whose settings oncely accepts, ONCELY_TRUST_PROXY decides whose address a request has, and `oncely backup`
// copies a live database consistently while sends go on.
import { execFile } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { promisify } from 'node:util';
import BetterSqlite3 from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { startOncely } from '../src/main.js';
import { createLogger } from '../src/observability/logger.js';
import {
  adminToken,
  client,
  createApp,
  freePort,
  repoRoot,
  spawnServer,
  tempDir,
  testStore,
  text,
} from './harness.js';
import { ensureServerBuilt } from './server-build.js';
import { serviceBinary } from './services.js';

const run = promisify(execFile);
const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
function freshDir(): string {
  const dir = tempDir('oncely-prod-');
  dirs.push(dir);
  return dir;
}

const unitFile = join(repoRoot, 'examples/systemd/oncely.service');

/** The unit's `key=value` lines by section; repeated keys (Environment) keep every value. */
function parseUnit(textOfUnit: string): Record<string, Record<string, string[]>> {
  const sections: Record<string, Record<string, string[]>> = {};
  let current: Record<string, string[]> | undefined;
  for (const raw of textOfUnit.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const section = /^\[(\w+)\]$/.exec(line);
    if (section) {
      current = sections[section[1]!] = {};
      continue;
    }
    const eq = line.indexOf('=');
    if (!current || eq < 1) throw new Error(`not a unit line: ${line}`);
    (current[line.slice(0, eq)] ??= []).push(line.slice(eq + 1));
  }
  return sections;
}

describe('the systemd unit in examples/', () => {
  const unit = parseUnit(readFileSync(unitFile, 'utf8'));

  it('runs the oncely command, restarts on failure, stops with SIGTERM and keeps state in its own directory', () => {
    expect(Object.keys(unit)).toEqual(['Unit', 'Service', 'Install']);
    const service = unit.Service!;
    expect(service.ExecStart).toEqual(['/usr/bin/node /opt/oncely/bin/oncely.js serve']);
    expect(service.KillSignal).toEqual(['SIGTERM']);
    expect(service.Restart).toEqual(['on-failure']);
    expect(service.StateDirectory).toEqual(['oncely']);
    expect(unit.Install!.WantedBy).toEqual(['multi-user.target']);
  });

  it("carries settings that oncely's own configuration accepts, with the database in the state directory", () => {
    const env = Object.fromEntries(
      unit.Service!.Environment!.map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]),
    );
    const config = loadConfig(env);
    expect(config.dataDir).toBe('/var/lib/oncely');
    expect(config.databaseUrl).toBe('sqlite:/var/lib/oncely/oncely.db');
    expect(config.trustProxy).toEqual(['127.0.0.1']);
    expect(config.host).toBe('127.0.0.1');
  });

  it('passes systemd-analyze verify (with this checkout in place of /opt/oncely)', async () => {
    const analyze = serviceBinary('systemd-analyze', ['systemd-analyze'], 'systemd');
    if (!analyze) return;
    const dir = freshDir();
    const local = join(dir, 'oncely.service');
    writeFileSync(
      local,
      readFileSync(unitFile, 'utf8')
        .replaceAll('/usr/bin/node', process.execPath)
        .replaceAll('/opt/oncely', repoRoot),
    );
    const { stderr } = await run(analyze, ['verify', local]);
    expect(stderr).toBe('');
  });
});

describe('ONCELY_TRUST_PROXY', () => {
  async function loggedIp(trust: string | undefined): Promise<string> {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(...chunk.toString().split('\n').filter(Boolean));
        done();
      },
    });
    const dir = freshDir();
    const config = loadConfig({
      ONCELY_PORT: '0',
      ONCELY_DATA_DIR: dir,
      ONCELY_DATABASE_URL: `sqlite:${join(dir, 'oncely.db')}`,
      ONCELY_ADMIN_TOKEN: adminToken,
      ...(trust === undefined ? {} : { ONCELY_TRUST_PROXY: trust }),
    });
    const oncely = await startOncely(config, { logger: createLogger('info', sink) });
    try {
      await fetch(`${oncely.url}/healthz`, { headers: { 'x-forwarded-for': '203.0.113.7' } });
    } finally {
      await oncely.close();
    }
    const line = lines.map((l) => JSON.parse(l)).find((l) => l.msg === 'request' && l.url === '/healthz');
    return line.ip;
  }

  it("off by default: X-Forwarded-For is the client's own claim and the logged address is the peer's", async () => {
    expect(await loggedIp(undefined)).toBe('127.0.0.1');
  });

  it('naming the proxy: the logged address is the one it forwarded', async () => {
    expect(await loggedIp('127.0.0.1')).toBe('203.0.113.7');
    expect(await loggedIp('1')).toBe('203.0.113.7');
  });

  it('refuses a value that is neither a flag, a hop count nor addresses', () => {
    expect(() => loadConfig({ ONCELY_TRUST_PROXY: 'the load balancer' })).toThrow(/ONCELY_TRUST_PROXY/);
  });
});

// `oncely backup` is SQLite's VACUUM INTO; a PostgreSQL database is backed up with its own tools (pg_dump).
describe.runIf(testStore === 'sqlite')('oncely backup', () => {
  it('copies a live database consistently while sends go on; the copy starts a server with the history', async () => {
    ensureServerBuilt();
    const dir = freshDir();
    const server = await spawnServer(dir, await freePort(), { ONCELY_DEMO: '0' });
    const backupFile = join(dir, 'backup.db');
    let acked = 0;
    let stopping = false;
    const app = await createApp(server.url);
    const alice = await app.user('alice');
    await app.user('bob');
    const conv = await app.group(['alice', 'bob']);
    let heldCursor = '';
    try {
      const send = (n: number) =>
        app.api.post(`/v1/conversations/${conv}/messages`, { from: 'alice', body: text(`m${n}`) });
      for (let n = 0; n < 50; n++) expect((await send(n)).status).toBe(201);
      acked = 50;
      // A device's cursor of the original, taken before the backup.
      heldCursor = (await alice.get('/v1/sync')).body.cursor;
      const load = (async () => {
        for (let n = 50; !stopping; n++) if ((await send(n)).status === 201) acked++;
      })();
      const env = {
        ...process.env,
        ONCELY_DATA_DIR: dir,
        ONCELY_DATABASE_URL: `sqlite:${join(dir, 'oncely.db')}`,
      };
      const { stdout } = await run(
        process.execPath,
        [join(repoRoot, 'bin/oncely.js'), 'backup', backupFile],
        {
          env,
        },
      );
      expect(stdout.trim()).toBe(`backed up to ${backupFile}`);
      stopping = true;
      await load;
      // A second backup never overwrites a file.
      const again = await run(process.execPath, [join(repoRoot, 'bin/oncely.js'), 'backup', backupFile], {
        env,
      }).catch((e: { code: number; stderr: string }) => e);
      expect(again).toMatchObject({ code: 1 });
      expect((again as { stderr: string }).stderr).toContain('name a new file');
    } finally {
      await server.kill();
    }

    const copy = new BetterSqlite3(backupFile, { readonly: true });
    const integrity = copy.pragma('integrity_check', { simple: true });
    const seqs = copy
      .prepare(`select seq from events where type = 'message.created' order by seq`)
      .all()
      .map((r) => (r as { seq: number }).seq);
    copy.close();
    expect(integrity).toBe('ok');
    // Every message acknowledged before the backup began is in it, gapless from seq 1.
    expect(seqs.length).toBeGreaterThanOrEqual(50);
    expect(seqs.length).toBeLessThanOrEqual(acked);
    expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => i + 1));

    // Restoring is starting on the copy.
    const restoredDir = freshDir();
    const restored = await spawnServer(restoredDir, await freePort(), {
      ONCELY_DEMO: '0',
      ONCELY_DATABASE_URL: `sqlite:${backupFile}`,
    });
    try {
      const history = await client(restored.url, app.apiKey).get(
        `/v1/conversations/${conv}/messages?limit=1000`,
      );
      expect(history.body.items.map((e: { seq: number }) => e.seq)).toEqual(seqs);
      // The copy has its own epoch: a device's cursor of the original is refused, and the device starts over.
      const resumed = await client(restored.url, alice.token).get(`/v1/sync?cursor=${heldCursor}`);
      expect(resumed.status).toBe(400);
      expect(resumed.body.error.code).toBe('invalid_cursor');
      const fresh = await client(restored.url, alice.token).get('/v1/sync');
      expect(
        (await client(restored.url, alice.token).get(`/v1/sync?cursor=${fresh.body.cursor}&timeoutMs=0`))
          .status,
      ).toBe(200);
    } finally {
      await restored.kill();
    }
  });
});
