// A store that cannot write while it still reads (a full disk): sends answer 503 store_unavailable with
// Retry-After and write nothing, /readyz fails while writes fail, the cause is logged once per incident, and
// the server recovers by itself once the store writes again; a retried idempotency key then writes once.
//
// SQLite: the server runs as a child process whose file-size limit (RLIMIT_FSIZE, set with prlimit) is
// lowered to just above its files' size, so SQLite's writes fail for real — short writes then EFBIG, which
// SQLite reports as it reports ENOSPC (SQLITE_FULL, SQLITE_IOERR_WRITE) — and raised again to recover. Unlike
// a size-limited mount, it needs no privileges, and it limits only the server, never the test runner.
// PostgreSQL: a full disk makes PostgreSQL refuse writes with SQLSTATE 53100 (and may stop it at a WAL write);
// triggers on the position counter (which every send updates) and on readiness's probe row raise that very
// error while a switch is on, and the real server meets it through the real driver.
import { execFileSync } from 'node:child_process';
import { rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { sql } from 'kysely';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { startOncely, type Oncely } from '../src/main.js';
import { createLogger } from '../src/observability/logger.js';
import {
  adminToken,
  client,
  createApp,
  databaseUrl,
  dropDatabase,
  freePort,
  spawnServer,
  tempDir,
  testStore,
  waitFor,
  type ServerProcess,
  type TestApp,
} from './harness.js';

const outageLine = 'the database cannot write (disk full?)';
const body = { type: 'text', text: 'x'.repeat(60_000) };
const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

/**
 * Sends until the store refuses five in a row (space freed by the store itself, such as a WAL checkpoint,
 * may let a few through before the disk is full for good); every refusal is a 503 `store_unavailable` with
 * Retry-After, never a 500. Returns how many were created and the key of a refused one.
 */
async function fillUp(app: TestApp, conv: string) {
  let created = 0;
  let refusedInARow = 0;
  let refusedKey = '';
  for (let i = 0; refusedInARow < 5; i++) {
    if (i === 2000) throw new Error('the store never ran out of room');
    const key = `fill-${i}`;
    const res = await app.api.post(
      `/v1/conversations/${conv}/messages`,
      { from: 'alice', body },
      { 'idempotency-key': key },
    );
    if (res.status === 201) {
      created++;
      refusedInARow = 0;
      continue;
    }
    expect([res.status, res.body.error?.code, res.headers.get('retry-after')]).toEqual([
      503,
      'store_unavailable',
      '1',
    ]);
    refusedInARow++;
    refusedKey = key;
  }
  return { created, refusedKey };
}

const outageLines = (log: string) => log.split('\n').filter((l) => l.includes(outageLine));

/** What a full disk must look like from outside, then recovery once `free` gives the store room again. */
async function expectOutageAndRecovery(
  url: string,
  app: TestApp,
  conv: string,
  log: () => string,
  disk: { full: () => Promise<void>; free: () => Promise<void> },
): Promise<void> {
  const messages = async () =>
    (await app.api.get(`/v1/conversations/${conv}/messages?limit=1000`)).body.items.length as number;
  const before = await messages();
  const { created, refusedKey } = await fillUp(app, conv);
  await disk.full();
  // The cause is in the log, once for the incident: more refusals and readiness checks add no line.
  const logged = outageLines(log());
  expect(logged).toHaveLength(1);
  expect(logged.at(-1)).toMatch(/disk is full|disk I\/O error|No space left|too large/i);
  for (let i = 0; i < 3; i++) {
    const again = await app.api.post(
      `/v1/conversations/${conv}/messages`,
      { from: 'alice', body },
      { 'idempotency-key': `again-${i}` },
    );
    expect([again.status, again.body.error?.code]).toEqual([503, 'store_unavailable']);
    const ready = await client(url).get('/readyz');
    expect(ready.status).toBe(503);
    expect(ready.body.checks.store).toBe('unavailable');
  }
  expect(outageLines(log())).toHaveLength(logged.length);
  // Reads go on, and nothing refused was written.
  expect(await messages()).toBe(before + created);

  await disk.free();
  await waitFor(async () => (await client(url).get('/readyz')).status === 200, 20_000);
  const retried = await app.api.post(
    `/v1/conversations/${conv}/messages`,
    { from: 'alice', body },
    { 'idempotency-key': refusedKey },
  );
  expect(retried.status).toBe(201);
  expect(await messages()).toBe(before + created + 1);
  expect(outageLines(log())).toHaveLength(logged.length);
}

describe.runIf(testStore === 'sqlite')('a full disk under SQLite (RLIMIT_FSIZE on the server)', () => {
  let server: ServerProcess | undefined;
  afterAll(() => server?.kill('SIGKILL'));

  it('answers 503 store_unavailable, is not ready, logs the cause once, and recovers by itself', async () => {
    const dir = tempDir('oncely-disk-full-');
    dirs.push(dir);
    server = await spawnServer(dir, await freePort(), {}, { fromSource: true });
    const app = await createApp(server.url);
    const conv = await app.group(['alice', 'bob']);
    const pid = String(server.child.pid);
    const database = join(dir, 'oncely.db');
    const largest = Math.max(
      ...[database, `${database}-wal`].map((f) => {
        try {
          return statSync(f).size;
        } catch {
          return 0;
        }
      }),
    );
    const limitFileSize = (limit: string) => {
      execFileSync('prlimit', ['--pid', pid, `--fsize=${limit}`]);
    };
    limitFileSize(`${largest + 512 * 1024}:unlimited`);
    await expectOutageAndRecovery(server.url, app, conv, server.output, {
      // Once the sends are refused, the disk stays full: a checkpoint that catches up would otherwise let the
      // WAL restart from its beginning and take a few more writes, ending the incident by itself.
      full: async () => limitFileSize('0:unlimited'),
      free: async () => limitFileSize('unlimited:unlimited'),
    });
  });
});

describe.runIf(testStore === 'postgres')('a full disk under PostgreSQL (SQLSTATE 53100)', () => {
  let oncely: Oncely | undefined;
  const dir = tempDir('oncely-disk-full-');
  dirs.push(dir);
  afterAll(async () => {
    await oncely?.close();
    await dropDatabase(dir);
  });

  it('answers 503 store_unavailable, is not ready, logs the cause once, and recovers by itself', async () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(chunk.toString());
        done();
      },
    });
    const config = loadConfig({
      ONCELY_HOST: '127.0.0.1',
      ONCELY_PORT: '0',
      ONCELY_DATA_DIR: dir,
      ONCELY_DATABASE_URL: await databaseUrl(dir),
      ONCELY_ADMIN_TOKEN: adminToken,
      ONCELY_LOG_LEVEL: 'warn',
    });
    oncely = await startOncely(config, { logger: createLogger('warn', sink) });
    const db = oncely.services.store.db;
    await sql`create table disk_full_switch (is_full boolean not null)`.execute(db);
    await sql`insert into disk_full_switch values (false)`.execute(db);
    await sql`create function refuse_when_full() returns trigger language plpgsql as $$
      begin
        if (select is_full from disk_full_switch) then
          raise exception 'could not extend file "base/1/2": No space left on device' using errcode = 'disk_full';
        end if;
        return new;
      end $$`.execute(db);
    await sql`create trigger disk_full before update on counters
      for each row execute function refuse_when_full()`.execute(db);
    await sql`create trigger disk_full before insert or update on write_probe
      for each row execute function refuse_when_full()`.execute(db);
    const app = await createApp(oncely.url);
    const conv = await app.group(['alice', 'bob']);
    // Full after a few sends, as a disk fills while messages arrive.
    for (let i = 0; i < 3; i++) {
      await app.api.post(`/v1/conversations/${conv}/messages`, { from: 'alice', body });
    }
    await sql`update disk_full_switch set is_full = true`.execute(db);
    await expectOutageAndRecovery(oncely.url, app, conv, () => lines.join(''), {
      full: async () => {},
      free: async () => {
        await sql`update disk_full_switch set is_full = false`.execute(db);
      },
    });
  });
});
