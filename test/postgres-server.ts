// A real PostgreSQL server for tests: initdb into a temp dir owned by the `postgres` user (the server refuses
// root), started on a free loopback port with its socket in that dir, stopped and deleted afterwards.
// Never the system's own service.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chownSync, cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { serviceBinary } from './services.js';

export interface PostgresServer {
  port: number;
  /** Holds the data directory and the unix socket. */
  dir: string;
  /** The superuser URL without a database: `postgres://postgres@127.0.0.1:<port>`. */
  baseUrl: string;
  /** A superuser URL of a database on this server. */
  url(database?: string): string;
  /** Stops the server (fast shutdown, or `immediate`: like a crash, recovered from at the next start). */
  stop(mode?: 'fast' | 'immediate'): Promise<void>;
  /** Starts it again on the same port and data. */
  start(): Promise<void>;
  /** Stops it and deletes its directory. */
  destroy(): Promise<void>;
}

/** The directory holding `initdb` and `postgres` (Debian: /usr/lib/postgresql/<major>/bin), or undefined. */
export function postgresBinDir(): string | undefined {
  const versions = (() => {
    try {
      return readdirSync('/usr/lib/postgresql').sort((a, b) => Number(b) - Number(a));
    } catch {
      return [];
    }
  })();
  const initdb = serviceBinary(
    'PostgreSQL',
    [...versions.map((v) => `/usr/lib/postgresql/${v}/bin/initdb`), 'initdb'],
    'postgresql',
  );
  return initdb ? initdb.slice(0, -'/initdb'.length) : undefined;
}

/** Runs server processes as `postgres` when this process is root; as ourselves otherwise. */
function serverUser(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const id = (flag: string) => Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' }).trim());
  return { uid: id('-u'), gid: id('-g') };
}

/** One template cluster per process: initdb is the slow part, a copy of its output is not. */
let template: string | undefined;

function initTemplate(binDir: string, user: ReturnType<typeof serverUser>): string {
  if (template) return template;
  const dir = mkdtempSync(join(tmpdir(), 'oncely-pg-template-'));
  if (user) chownSync(dir, user.uid, user.gid);
  const data = join(dir, 'data');
  execFileSync(
    join(binDir, 'initdb'),
    ['-D', data, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--locale=C', '--no-sync'],
    { stdio: 'pipe', ...user },
  );
  template = data;
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  return data;
}

async function canConnect(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query('select 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

export interface StartPostgresOptions {
  port: number;
  /** Extra `-c name=value` server settings. */
  settings?: Record<string, string>;
}

/**
 * Starts a fresh server. Tests never crash the machine, only the server, so fsync is off: what the server
 * wrote reaches the OS and survives a crash of the server itself.
 */
export async function startPostgres(options: StartPostgresOptions): Promise<PostgresServer> {
  const binDir = postgresBinDir();
  if (!binDir) throw new Error('PostgreSQL is not installed (apt-get install -y postgresql)');
  const user = serverUser();
  const dir = mkdtempSync(join(tmpdir(), 'oncely-pg-'));
  const data = join(dir, 'data');
  cpSync(initTemplate(binDir, user), data, { recursive: true });
  mkdirSync(join(dir, 'log'));
  if (user) execFileSync('chown', ['-R', `${user.uid}:${user.gid}`, dir]);
  const { port } = options;
  const settings: Record<string, string> = {
    listen_addresses: '127.0.0.1',
    unix_socket_directories: dir,
    fsync: 'off',
    full_page_writes: 'off',
    max_connections: '200',
    shared_buffers: '32MB',
    ...options.settings,
  };
  const args = [
    '-D',
    data,
    '-p',
    String(port),
    ...Object.entries(settings).flatMap(([k, v]) => ['-c', `${k}=${v}`]),
  ];
  const baseUrl = `postgres://postgres@127.0.0.1:${port}`;
  const url = (database = 'postgres') => `${baseUrl}/${database}`;
  let child: ChildProcess | undefined;
  let output = '';

  async function start(): Promise<void> {
    output = '';
    const proc = spawn(join(binDir!, 'postgres'), args, { stdio: ['ignore', 'pipe', 'pipe'], ...user });
    proc.stdout!.on('data', (d: Buffer) => (output += d.toString()));
    proc.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    child = proc;
    const deadline = Date.now() + 30_000;
    while (!(await canConnect(url()))) {
      if (proc.exitCode !== null) throw new Error(`postgres exited at start:\n${output}`);
      if (Date.now() > deadline)
        throw new Error(`postgres did not accept connections within 30 s:\n${output}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async function stop(mode: 'fast' | 'immediate' = 'fast'): Promise<void> {
    const proc = child;
    child = undefined;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise<void>((res) => proc.once('exit', () => res()));
    // The postmaster's shutdown signals: SIGINT fast (abort transactions, clean stop), SIGQUIT immediate.
    proc.kill(mode === 'fast' ? 'SIGINT' : 'SIGQUIT');
    await exited;
  }

  await start();
  return {
    port,
    dir,
    baseUrl,
    url,
    stop,
    start,
    async destroy() {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
