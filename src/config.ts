// Environment → one typed, validated Config object. Fails fast with a message naming the variable.
import { readFileSync, existsSync } from 'node:fs';

export type Durability = 'full' | 'normal';
export type BatchMode = 'partial' | 'atomic';

export const consumerKinds = ['rabbitmq', 'redis-stream', 'jetstream'] as const;
export type ConsumerKind = (typeof consumerKinds)[number];

/** One queue consumer of `ONCELY_CONSUMERS_FILE` (docs/design.md, "Inbound adapters"). */
export interface ConsumerConfig {
  /** Unique; names the idempotency scope `queue:{name}`, the status entry and the metrics label. */
  name: string;
  kind: ConsumerKind;
  /** amqp(s):// for RabbitMQ, redis(s):// for Redis, nats:// or tls:// for JetStream. */
  url: string;
  /** The app whose messages the queue carries. */
  appId: string;
  /** The queue (RabbitMQ), stream key (Redis) or stream name (JetStream, subjects `{source}.>`). */
  source: string;
  /** Consumer group (Redis) or durable consumer name (JetStream); unused by RabbitMQ. @defaultValue "oncely" */
  group: string;
  /** Deliveries a message gets before it goes to the dead letters. @defaultValue 5 */
  maxDeliveries: number;
}

export const consumerDefaults = { group: 'oncely', maxDeliveries: 5 } as const;

/** Outbound webhooks (`ONCELY_WEBHOOK_*`); each default stands beside its option. */
export interface WebhookConfig {
  /** Seconds to wait before each retry, with ±20 % jitter; after the last the delivery is `failed`. */
  retrySchedule: number[];
  /** Loopback, private and link-local receivers are allowed (tests, trusted networks). */
  allowPrivate: boolean;
  /** A 2xx must arrive within this long. */
  timeoutMs: number;
  /** Requests in flight to one endpoint, so a slow receiver cannot take every slot. */
  endpointConcurrency: number;
  /** How long a dispatcher holds the rows it claimed; a dead dispatcher's rows are due again after it. */
  leaseMs: number;
  /** The fallback poll for due rows; new events wake the dispatcher at once through the bus. */
  pollMs: number;
  /** Finished deliveries (and their attempts) are deleted after this long. */
  retentionSeconds: number;
}

export const webhookDefaults: WebhookConfig = {
  retrySchedule: [5, 300, 1800, 7200, 18000, 36000, 36000],
  allowPrivate: false,
  timeoutMs: 10_000,
  endpointConcurrency: 16,
  leaseMs: 60_000,
  pollMs: 1000,
  retentionSeconds: 30 * 86400,
};

/** `ONCELY_RATE_LIMIT_*`; a limit of 0 is no limit. */
export interface RateLimitConfig {
  /** The window every count runs over. @defaultValue 60000 */
  windowMs: number;
  /** Requests per app API key in a window. @defaultValue 30000 */
  appMax: number;
  /** Requests per user (any of its tokens) in a window. @defaultValue 1200 */
  userMax: number;
  /** Failed authentications per client address in a window; past it, the address is refused. @defaultValue 30 */
  authFailureMax: number;
}

export const rateLimitDefaults: RateLimitConfig = {
  windowMs: 60_000,
  appMax: 30_000,
  userMax: 1200,
  authFailureMax: 30,
};

/** The HTTP server's own limits (`ONCELY_HTTP_*`, `ONCELY_MAX_CONNECTIONS`); defaults beside them. */
export interface HttpLimits {
  /** A request's headers and body must arrive within this long (a slow drip gets `408`). @defaultValue 30000 */
  requestTimeoutMs: number;
  /**
   * A connection with no bytes either way for this long is closed. Longer than the longest long-poll wait and
   * the heartbeat, so live long-polls and SSE streams are never cut; WebSockets keep their own heartbeat.
   * @defaultValue 120000
   */
  idleTimeoutMs: number;
  /** An idle keep-alive connection between requests is closed after this long. @defaultValue 72000 */
  keepAliveTimeoutMs: number;
  /** Open connections (HTTP, SSE, WebSocket) of this instance; past it new ones are closed at once. @defaultValue 10000 */
  maxConnections: number;
}

export const httpLimitDefaults: HttpLimits = {
  requestTimeoutMs: 30_000,
  idleTimeoutMs: 120_000,
  keepAliveTimeoutMs: 72_000,
  maxConnections: 10_000,
};

export interface Config {
  host: string;
  port: number;
  databaseUrl: string;
  /** PostgreSQL: connections in this instance's pool, i.e. transactions it can run at once. */
  databasePoolMax: number;
  /** Directory for the generated admin token and other local state. */
  dataDir: string;
  redisUrl: string | undefined;
  /**
   * Which peers' X-Forwarded-For / -Proto / -Host headers are believed (Fastify's `trustProxy`): false (none),
   * true (any), a hop count, or addresses and CIDR ranges. Default false: without a proxy those headers are the
   * client's own claims.
   */
  trustProxy: boolean | number | string[];
  adminToken: string | undefined;
  /** Seals token signing, webhook and callback secrets at rest (README "Secrets at rest"); unset: stored in clear. */
  secretsKey: Buffer | undefined;
  durability: Durability;
  idempotencyTtlSeconds: number;
  recallWindowSeconds: number;
  /** Default retention of a conversation's messages in seconds; 0: forever (a conversation may set its own). */
  messageRetentionSeconds: number;
  /** How often expired message bodies are erased. */
  expirySweepIntervalMs: number;
  batchMaxItems: number;
  batchDefaultMode: BatchMode;
  bodyLimitBytes: number;
  messageBodyMaxBytes: number;
  /** Containers nested in a message body (the body counting 1); deeper is `400 body_too_deep`. */
  messageBodyMaxDepth: number;
  userTokenDefaultTtlSeconds: number;
  userTokenMaxTtlSeconds: number;
  sweepIntervalMs: number;
  sweepBatchSize: number;
  groupCommitMaxSize: number;
  /**
   * Group-commit transactions one instance keeps under way at once, each on its own connection; capped by
   * the store's concurrentTransactions (1 on SQLite).
   */
  groupCommitInFlight: number;
  /** Realtime: server heartbeat interval; a dead peer is dropped within two. */
  wsHeartbeatMs: number;
  /** Realtime: how long a WebSocket may wait before its auth frame. */
  wsAuthTimeoutMs: number;
  /** Realtime: WebSocket + SSE connections per user; the next one is refused. */
  maxConnectionsPerUser: number;
  /** Realtime: unsent bytes a connection may queue before it is closed as a slow consumer. */
  sendBufferLimitBytes: number;
  /** Realtime: longest long-poll wait (at most 30 s). */
  longPollMaxMs: number;
  /** Realtime: presence (online state and its frames) on; off spares its cost on very large deployments. */
  presence: boolean;
  /**
   * Realtime: a window of presence changes closes at most once per this many ms (a change after a quiet one
   * goes out at once); a window's changes go out together, each member's frames in one write (the latest
   * change per user). At most a quarter heartbeat, so Redis presence keeps its two-heartbeat bound.
   */
  presenceBatchMs: number;
  webhooks: WebhookConfig;
  rateLimits: RateLimitConfig;
  http: HttpLimits;
  logLevel: string;
  plugin: string | undefined;
  demo: boolean;
  /** Queue consumers read from `ONCELY_CONSUMERS_FILE`; empty when unset. */
  consumers: ConsumerConfig[];
}

type Env = Record<string, string | undefined>;

/** A setting that stops the start; its message is one line naming the variable. */
export class ConfigError extends Error {}

export const supportedDatabaseUrls = [
  'sqlite:<file> (embedded, one instance)',
  'postgres://user:password@host:port/database (several instances)',
];

function int(env: Env, name: string, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ConfigError(`${name} must be an integer between ${min} and ${max}, got "${raw}"`);
  }
  return value;
}

function oneOf<T extends string>(env: Env, name: string, allowed: readonly T[], fallback: T): T {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!(allowed as readonly string[]).includes(raw)) {
    throw new ConfigError(`${name} must be one of ${allowed.join(', ')}, got "${raw}"`);
  }
  return raw as T;
}

function bool(env: Env, name: string, fallback: boolean): boolean {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (['1', 'true', 'yes'].includes(raw)) return true;
  if (['0', 'false', 'no'].includes(raw)) return false;
  throw new ConfigError(`${name} must be 1 or 0, got "${raw}"`);
}

/** A comma-separated list of seconds (fractions allowed), e.g. `5,300,1800`. */
function schedule(env: Env, name: string, fallback: number[]): number[] {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const values = raw.split(',').map((part) => Number(part.trim()));
  if (values.length > 50 || values.some((v) => !Number.isFinite(v) || v < 0 || v > 7 * 86400)) {
    throw new ConfigError(
      `${name} must be a comma-separated list of at most 50 delays in seconds (0 to 604800), got "${raw}"`,
    );
  }
  return values;
}

function webhookConfig(env: Env): WebhookConfig {
  const d = webhookDefaults;
  const timeoutMs = int(env, 'ONCELY_WEBHOOK_TIMEOUT_MS', d.timeoutMs, 10, 300_000);
  const leaseMs = int(env, 'ONCELY_WEBHOOK_LEASE_MS', d.leaseMs, 100);
  // A lease shorter than a request would let a second dispatcher take a row that is still being sent.
  if (leaseMs <= timeoutMs) {
    throw new ConfigError(
      `ONCELY_WEBHOOK_LEASE_MS (${leaseMs}) must be longer than ONCELY_WEBHOOK_TIMEOUT_MS (${timeoutMs})`,
    );
  }
  return {
    retrySchedule: schedule(env, 'ONCELY_WEBHOOK_RETRY_SCHEDULE', d.retrySchedule),
    allowPrivate: bool(env, 'ONCELY_WEBHOOK_ALLOW_PRIVATE', d.allowPrivate),
    timeoutMs,
    endpointConcurrency: int(env, 'ONCELY_WEBHOOK_ENDPOINT_CONCURRENCY', d.endpointConcurrency, 1, 1000),
    leaseMs,
    pollMs: int(env, 'ONCELY_WEBHOOK_POLL_MS', d.pollMs, 10, 60_000),
    retentionSeconds: int(env, 'ONCELY_WEBHOOK_RETENTION_SECONDS', d.retentionSeconds, 60),
  };
}

function httpLimits(env: Env, longPollMaxMs: number, heartbeatMs: number): HttpLimits {
  const d = httpLimitDefaults;
  const idleTimeoutMs = int(env, 'ONCELY_HTTP_IDLE_TIMEOUT_MS', d.idleTimeoutMs, 100);
  // An idle limit under the long-poll wait or the heartbeat would cut live connections.
  const quiet = Math.max(longPollMaxMs, heartbeatMs);
  if (idleTimeoutMs <= quiet) {
    throw new ConfigError(
      `ONCELY_HTTP_IDLE_TIMEOUT_MS (${idleTimeoutMs}) must be longer than ONCELY_LONG_POLL_MAX_MS and ` +
        `ONCELY_WS_HEARTBEAT_MS (${quiet}), or live long-polls and streams are cut`,
    );
  }
  return {
    requestTimeoutMs: int(env, 'ONCELY_HTTP_REQUEST_TIMEOUT_MS', d.requestTimeoutMs, 100),
    idleTimeoutMs,
    keepAliveTimeoutMs: int(env, 'ONCELY_HTTP_KEEP_ALIVE_TIMEOUT_MS', d.keepAliveTimeoutMs, 100),
    maxConnections: int(env, 'ONCELY_MAX_CONNECTIONS', d.maxConnections, 1),
  };
}

function rateLimitConfig(env: Env): RateLimitConfig {
  const d = rateLimitDefaults;
  return {
    windowMs: int(env, 'ONCELY_RATE_LIMIT_WINDOW_MS', d.windowMs, 100, 3_600_000),
    appMax: int(env, 'ONCELY_RATE_LIMIT_APP', d.appMax, 0),
    userMax: int(env, 'ONCELY_RATE_LIMIT_USER', d.userMax, 0),
    authFailureMax: int(env, 'ONCELY_RATE_LIMIT_AUTH_FAILURES', d.authFailureMax, 0),
  };
}

/** An admin token an operator sets must be long enough that guessing it is hopeless. */
function adminToken(env: Env): string | undefined {
  const token = env.ONCELY_ADMIN_TOKEN || undefined;
  if (token !== undefined && token.length < minAdminTokenLength) {
    throw new ConfigError(
      `ONCELY_ADMIN_TOKEN must be at least ${minAdminTokenLength} characters (it is ${token.length}); ` +
        'unset it to have one generated',
    );
  }
  return token;
}

export const minAdminTokenLength = 32;

/** The key that seals secrets at rest (store/secret-box.ts): 32 bytes, as base64 or 64 hex digits. */
function secretsKey(env: Env): Buffer | undefined {
  const raw = env.ONCELY_SECRETS_KEY?.trim();
  if (!raw) return undefined;
  if (/^[0-9a-fA-F]{64}$/.test(raw)) return Buffer.from(raw, 'hex');
  // 32 bytes are 43 base64 characters and one `=` of padding (base64url without it).
  if (/^[A-Za-z0-9+/_-]{43}=?$/.test(raw)) return Buffer.from(raw, 'base64');
  throw new ConfigError(
    'ONCELY_SECRETS_KEY must be 32 random bytes, as base64 (44 characters) or 64 hex digits: e.g. `openssl rand -base64 32`',
  );
}

function trustProxy(env: Env): boolean | number | string[] {
  const raw = env.ONCELY_TRUST_PROXY?.trim();
  if (!raw || raw === '0' || raw === 'false') return false;
  if (raw === '1' || raw === 'true') return true;
  if (/^\d+$/.test(raw)) return Number(raw);
  const list = raw.split(',').map((a) => a.trim());
  if (list.some((a) => !/^[0-9a-fA-F.:]+(\/\d{1,3})?$/.test(a))) {
    throw new ConfigError(
      `ONCELY_TRUST_PROXY must be true, a hop count, or proxy addresses/CIDRs separated by commas, got "${raw}"`,
    );
  }
  return list;
}

/** Reads `ONCELY_CONFIG_FILE` (JSON of ONCELY_* keys) under the environment, which wins. */
function withConfigFile(env: Env): Env {
  const file = env.ONCELY_CONFIG_FILE;
  if (!file) return env;
  if (!existsSync(file)) throw new ConfigError(`ONCELY_CONFIG_FILE names a missing file: ${file}`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new ConfigError(`ONCELY_CONFIG_FILE is not valid JSON: ${(err as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null)
    throw new ConfigError('ONCELY_CONFIG_FILE must hold an object');
  const fromFile: Env = {};
  for (const [k, v] of Object.entries(parsed)) fromFile[k] = v === null ? undefined : String(v);
  return { ...fromFile, ...env };
}

const urlSchemes: Record<ConsumerKind, RegExp> = {
  rabbitmq: /^amqps?:\/\//,
  'redis-stream': /^rediss?:\/\//,
  jetstream: /^(nats|tls):\/\//,
};
const consumerFields = new Set(['name', 'kind', 'url', 'appId', 'source', 'group', 'maxDeliveries']);
// JetStream stream and durable names may not hold subject tokens or path separators.
const natsName = /^[^\s.*>/\\]+$/;

function parseConsumer(raw: unknown, at: string): ConsumerConfig {
  const fail = (what: string) => new ConfigError(`ONCELY_CONSUMERS_FILE: ${at}: ${what}`);
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw fail('must be an object');
  const o = raw as Record<string, unknown>;
  for (const key of Object.keys(o)) {
    if (!consumerFields.has(key))
      throw fail(`unknown field "${key}" (known: ${[...consumerFields].join(', ')})`);
  }
  const text = (key: string, optional = false): string | undefined => {
    const v = o[key];
    if (v === undefined && optional) return undefined;
    if (typeof v !== 'string' || v.trim() === '') throw fail(`"${key}" must be a non-empty string`);
    return v;
  };
  const name = text('name')!;
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(name))
    throw fail(`"name" must be 1-64 letters, digits, ".", "_" or "-", got "${name}"`);
  const kind = text('kind') as ConsumerKind;
  if (!consumerKinds.includes(kind))
    throw fail(`"kind" must be one of ${consumerKinds.join(', ')}, got "${kind}"`);
  const url = text('url')!;
  if (!urlSchemes[kind].test(url))
    throw fail(`"url" of a ${kind} consumer must match ${urlSchemes[kind].source.replaceAll('\\', '')}`);
  const source = text('source')!;
  const group = text('group', true) ?? consumerDefaults.group;
  if (kind === 'jetstream') {
    if (!natsName.test(source))
      throw fail('"source" (a JetStream stream name) may not hold ".", "*", ">", "/" or spaces');
    if (!natsName.test(group))
      throw fail('"group" (a JetStream durable name) may not hold ".", "*", ">", "/" or spaces');
  }
  const maxDeliveries = o.maxDeliveries ?? consumerDefaults.maxDeliveries;
  if (!Number.isInteger(maxDeliveries) || (maxDeliveries as number) < 1 || (maxDeliveries as number) > 100)
    throw fail(`"maxDeliveries" must be an integer between 1 and 100, got ${JSON.stringify(maxDeliveries)}`);
  return { name, kind, url, appId: text('appId')!, source, group, maxDeliveries: maxDeliveries as number };
}

/** Reads and validates `ONCELY_CONSUMERS_FILE`: a JSON array of consumers with unique names. */
function consumersFrom(env: Env): ConsumerConfig[] {
  const file = env.ONCELY_CONSUMERS_FILE;
  if (!file) return [];
  if (!existsSync(file)) throw new ConfigError(`ONCELY_CONSUMERS_FILE names a missing file: ${file}`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new ConfigError(`ONCELY_CONSUMERS_FILE is not valid JSON: ${(err as Error).message}`);
  }
  if (!Array.isArray(parsed))
    throw new ConfigError('ONCELY_CONSUMERS_FILE must hold a JSON array of consumers');
  const consumers = parsed.map((c, i) => parseConsumer(c, `consumer ${i}`));
  const seen = new Set<string>();
  for (const c of consumers) {
    if (seen.has(c.name)) throw new ConfigError(`ONCELY_CONSUMERS_FILE: two consumers are named "${c.name}"`);
    seen.add(c.name);
  }
  return consumers;
}

export function loadConfig(rawEnv: Env = process.env): Config {
  const env = withConfigFile(rawEnv);
  const databaseUrl = env.ONCELY_DATABASE_URL || 'sqlite:./data/oncely.db';
  if (!databaseUrl.startsWith('sqlite:') && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    // Only the scheme is echoed: the rest of a URL may hold a password.
    const scheme = /^[a-z][a-z0-9+.-]*:/i.exec(databaseUrl)?.[0] ?? 'none';
    throw new ConfigError(
      `ONCELY_DATABASE_URL: unsupported scheme "${scheme}"; supported: ${supportedDatabaseUrls.join(', ')}`,
    );
  }
  const redisUrl = env.ONCELY_REDIS_URL || undefined;
  if (redisUrl !== undefined && !/^rediss?:\/\//.test(redisUrl)) {
    throw new ConfigError('ONCELY_REDIS_URL: must start with redis:// or rediss://');
  }
  // A Redis bus joins instances; instances share a stream only through one PostgreSQL database.
  if (redisUrl !== undefined && databaseUrl.startsWith('sqlite:')) {
    throw new ConfigError(
      'ONCELY_REDIS_URL is set with a SQLite database: several instances need PostgreSQL (set ONCELY_DATABASE_URL=postgres://…), one instance needs no Redis',
    );
  }
  const longPollMaxMs = int(env, 'ONCELY_LONG_POLL_MAX_MS', 30_000, 0, 30_000);
  const wsHeartbeatMs = int(env, 'ONCELY_WS_HEARTBEAT_MS', 30_000, 50);
  return {
    host: env.ONCELY_HOST || '127.0.0.1',
    port: int(env, 'ONCELY_PORT', 8080, 0, 65535),
    databaseUrl,
    databasePoolMax: int(env, 'ONCELY_DATABASE_POOL_MAX', 10, 1, 1000),
    dataDir: env.ONCELY_DATA_DIR || './data',
    redisUrl,
    trustProxy: trustProxy(env),
    adminToken: adminToken(env),
    secretsKey: secretsKey(env),
    durability: oneOf(env, 'ONCELY_DURABILITY', ['full', 'normal'] as const, 'full'),
    idempotencyTtlSeconds: int(env, 'ONCELY_IDEMPOTENCY_TTL_SECONDS', 604800, 1),
    recallWindowSeconds: int(env, 'ONCELY_RECALL_WINDOW_SECONDS', 120, 0),
    messageRetentionSeconds: int(env, 'ONCELY_MESSAGE_RETENTION_SECONDS', 0, 0),
    expirySweepIntervalMs: int(env, 'ONCELY_EXPIRY_SWEEP_INTERVAL_MS', 10_000, 0),
    batchMaxItems: int(env, 'ONCELY_BATCH_MAX_ITEMS', 1000, 1, 100000),
    batchDefaultMode: oneOf(env, 'ONCELY_BATCH_DEFAULT_MODE', ['partial', 'atomic'] as const, 'partial'),
    bodyLimitBytes: int(env, 'ONCELY_BODY_LIMIT_BYTES', 4 * 1024 * 1024, 1024),
    messageBodyMaxBytes: int(env, 'ONCELY_MESSAGE_MAX_BYTES', 64 * 1024, 16),
    messageBodyMaxDepth: int(env, 'ONCELY_MESSAGE_MAX_DEPTH', 64, 2, 10_000),
    userTokenDefaultTtlSeconds: int(env, 'ONCELY_USER_TOKEN_TTL_SECONDS', 3600, 1),
    userTokenMaxTtlSeconds: int(env, 'ONCELY_USER_TOKEN_MAX_TTL_SECONDS', 30 * 86400, 1),
    sweepIntervalMs: int(env, 'ONCELY_SWEEP_INTERVAL_MS', 60_000, 10),
    sweepBatchSize: int(env, 'ONCELY_SWEEP_BATCH_SIZE', 500, 1),
    groupCommitMaxSize: int(env, 'ONCELY_GROUP_COMMIT_MAX', 512, 1, 10000),
    groupCommitInFlight: int(env, 'ONCELY_GROUP_COMMIT_IN_FLIGHT', 1, 1, 100),
    wsHeartbeatMs,
    wsAuthTimeoutMs: int(env, 'ONCELY_WS_AUTH_TIMEOUT_MS', 10_000, 10),
    maxConnectionsPerUser: int(env, 'ONCELY_MAX_CONNECTIONS_PER_USER', 10, 1),
    sendBufferLimitBytes: int(env, 'ONCELY_SEND_BUFFER_LIMIT_BYTES', 1024 * 1024, 1024),
    longPollMaxMs,
    presence: bool(env, 'ONCELY_PRESENCE', true),
    presenceBatchMs: int(
      env,
      'ONCELY_PRESENCE_BATCH_MS',
      // Two seconds: under heavy churn each connected member costs a socket write per window, the larger part
      // of presence's cost (README "Benchmarks", presence); a change after a quiet window is not delayed.
      Math.min(2000, Math.floor(wsHeartbeatMs / 8)),
      0,
      Math.floor(wsHeartbeatMs / 4),
    ),
    webhooks: webhookConfig(env),
    rateLimits: rateLimitConfig(env),
    http: httpLimits(env, longPollMaxMs, wsHeartbeatMs),
    logLevel: env.ONCELY_LOG_LEVEL || 'info',
    plugin: env.ONCELY_PLUGIN || undefined,
    demo: bool(env, 'ONCELY_DEMO', false),
    consumers: consumersFrom(env),
  };
}
