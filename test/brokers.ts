// Real message brokers for tests and benchmarks: RabbitMQ, redis-server and nats-server (JetStream), each
// started as its own process on free loopback ports with its data in a temp dir, restartable on the same
// ports and data (broker-restart tests), and stopped by pid — never the system services.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
// Not the harness: it needs vitest, and the queue benchmark starts brokers outside a test run.
import { freePort } from './free-port.js';
import { waitFor } from './wait-for.js';
import { findBinary, serviceBinary } from './services.js';

export interface TestBroker {
  url: string;
  /** Stops the broker and starts it again on the same port with the same data. */
  restart(): Promise<void>;
  /** Stops the broker (its data stays until `destroy`). */
  stop(): Promise<void>;
  /** Stops it and removes its data. */
  destroy(): Promise<void>;
  /** The server process's id while it runs (the benchmark reads its CPU time). */
  pid(): number | undefined;
}

export const rabbitMqBinary = () =>
  serviceBinary('RabbitMQ', ['/usr/lib/rabbitmq/bin/rabbitmq-server', 'rabbitmq-server'], 'rabbitmq-server');
export const redisBinary = () => serviceBinary('redis-server', ['redis-server'], 'redis-server');
export const natsBinary = () =>
  serviceBinary('nats-server', ['/usr/sbin/nats-server', 'nats-server'], 'nats-server');

const tempDir = (prefix: string) => mkdtempSync(join(tmpdir(), prefix));

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = tcpConnect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** SIGTERM, then SIGKILL if it is still there after `graceMs`; waits until the pid is gone. */
async function stopPid(pid: number, graceMs = 15_000): Promise<void> {
  if (!alive(pid)) return;
  process.kill(pid, 'SIGTERM');
  try {
    await waitFor(() => !alive(pid), graceMs, 50);
  } catch {
    process.kill(pid, 'SIGKILL');
    await waitFor(() => !alive(pid), 5_000, 50);
  }
}

interface Spawned {
  child: ChildProcess;
  output(): string;
  exited: Promise<void>;
}

function launch(binary: string, args: string[], env: Record<string, string> = {}): Spawned {
  const child = spawn(binary, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-20_000)));
  child.stderr!.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-20_000)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return { child, output: () => out, exited };
}

async function waitListening(s: Spawned, port: number, what: string, timeoutMs: number): Promise<void> {
  await waitFor(
    async () => {
      if (s.child.exitCode !== null) throw new Error(`${what} exited early:\n${s.output()}`);
      return portOpen(port);
    },
    timeoutMs,
    50,
  );
}

/** redis-server with an append-only file, so its streams survive a restart. */
export async function startRedis(opts: { fsync?: 'always' | 'everysec' } = {}): Promise<TestBroker> {
  const binary = redisBinary();
  if (!binary) throw new Error('redis-server is not installed');
  const dir = tempDir('oncely-redis-');
  const port = await freePort();
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', ''];
  args.push('--appendonly', 'yes', '--appendfsync', opts.fsync ?? 'always', '--protected-mode', 'no');
  let current: Spawned | undefined;
  async function start() {
    current = launch(binary!, args);
    await waitListening(current, port, 'redis-server', 15_000);
  }
  async function stop() {
    if (current?.child.pid) await stopPid(current.child.pid);
    await current?.exited;
    current = undefined;
  }
  await start();
  return {
    url: `redis://127.0.0.1:${port}`,
    restart: async () => (await stop(), await start()),
    stop,
    destroy: async () => (await stop(), rmSync(dir, { recursive: true, force: true })),
    pid: () => current?.child.pid,
  };
}

/** nats-server with JetStream storing in the temp dir. */
export async function startNats(): Promise<TestBroker> {
  const binary = natsBinary();
  if (!binary) throw new Error('nats-server is not installed');
  const dir = tempDir('oncely-nats-');
  const port = await freePort();
  let current: Spawned | undefined;
  async function start() {
    current = launch(binary!, ['-js', '-sd', dir, '-a', '127.0.0.1', '-p', String(port)]);
    await waitListening(current, port, 'nats-server', 15_000);
  }
  async function stop() {
    if (current?.child.pid) await stopPid(current.child.pid);
    await current?.exited;
    current = undefined;
  }
  await start();
  return {
    url: `nats://127.0.0.1:${port}`,
    restart: async () => (await stop(), await start()),
    stop,
    destroy: async () => (await stop(), rmSync(dir, { recursive: true, force: true })),
    pid: () => current?.child.pid,
  };
}

/**
 * A RabbitMQ node of its own: own node name, ports, data and log dirs, Erlang cookie (HOME) and epmd port.
 * Its Erlang VM leaves the launcher's process group, so it is stopped by the pid it writes, and the epmd
 * it started on its private port is stopped after it.
 */
export async function startRabbitMq(): Promise<TestBroker> {
  const binary = rabbitMqBinary();
  if (!binary) throw new Error('rabbitmq-server is not installed');
  const dir = tempDir('oncely-rabbitmq-');
  const [port, distPort, epmdPort] = [await freePort(), await freePort(), await freePort()];
  mkdirSync(join(dir, 'log'));
  writeFileSync(
    join(dir, 'rabbitmq.conf'),
    `listeners.tcp.default = 127.0.0.1:${port}\nloopback_users = none\n`,
  );
  writeFileSync(join(dir, 'enabled_plugins'), '[].\n');
  const pidFile = join(dir, 'rabbitmq.pid');
  const env = {
    HOME: dir,
    RABBITMQ_NODENAME: `oncely-test-${port}@localhost`,
    RABBITMQ_NODE_IP_ADDRESS: '127.0.0.1',
    RABBITMQ_NODE_PORT: String(port),
    RABBITMQ_DIST_PORT: String(distPort),
    ERL_EPMD_PORT: String(epmdPort),
    ERL_EPMD_ADDRESS: '127.0.0.1',
    RABBITMQ_MNESIA_BASE: join(dir, 'mnesia'),
    RABBITMQ_LOG_BASE: join(dir, 'log'),
    RABBITMQ_CONFIG_FILE: join(dir, 'rabbitmq.conf'),
    RABBITMQ_ENABLED_PLUGINS_FILE: join(dir, 'enabled_plugins'),
    RABBITMQ_PID_FILE: pidFile,
  };
  let current: Spawned | undefined;
  async function start() {
    rmSync(pidFile, { force: true });
    current = launch(binary!, [], env);
    await waitListening(current, port, 'RabbitMQ', 60_000);
  }
  /** The Erlang VM's pid, from the file it writes once started. */
  function vmPid(): number | undefined {
    try {
      return Number(readFileSync(pidFile, 'utf8').trim()) || undefined;
    } catch {
      return undefined; // never got as far as writing it
    }
  }
  async function stop() {
    const pid = vmPid();
    if (pid) await stopPid(pid, 30_000);
    if (current?.child.pid) await stopPid(current.child.pid);
    await current?.exited;
    current = undefined;
  }
  async function stopEpmd() {
    const epmd = findBinary(['epmd', '/usr/lib/erlang/bin/epmd']);
    if (!epmd) return;
    const kill = launch(epmd, ['-kill'], { ERL_EPMD_PORT: String(epmdPort) });
    await kill.exited;
  }
  await start();
  return {
    url: `amqp://guest:guest@127.0.0.1:${port}`,
    restart: async () => (await stop(), await start()),
    stop: async () => (await stop(), await stopEpmd()),
    destroy: async () => {
      await stop();
      await stopEpmd();
      rmSync(dir, { recursive: true, force: true });
    },
    pid: () => vmPid(),
  };
}
