// Presence across instances, kept in Redis with expiry. Each instance holds, per user with a session here,
// an entry in the user's sorted set of instances, scored by when it expires; it renews them every
// `refreshMs`. A user is online while one entry is unexpired, so a killed instance's users go offline
// when its entries expire (within two heartbeats: entries live 1.5 refresh intervals after their last
// renewal, and a reaper on every instance looks every quarter interval, which leaves a quarter for the
// frames to travel). Changes are decided in Lua, atomically, so exactly one instance
// publishes each transition.
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import type { Clock } from '../clock.js';
import type { Logger } from '../observability/logger.js';
import type { Bus } from './bus.js';
import type { Presence } from './presence.js';

export interface RedisPresenceOptions {
  url: string;
  bus: Bus;
  clock: Clock;
  logger: Logger;
  /** How often this instance renews its entries: the realtime heartbeat. */
  refreshMs: number;
  /** Key prefix, so deployments sharing one Redis keep apart. @defaultValue "oncely:" */
  prefix?: string;
}

export const redisPresenceDefaults = { prefix: 'oncely:' };

// KEYS: the user's instances, all users' latest expiry, last-seen times. ARGV: instance, now, expiry, member.
// Returns the number of live instances the user had before this one.
const openScript = `
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
local before = redis.call('ZCARD', KEYS[1])
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
redis.call('PEXPIREAT', KEYS[1], ARGV[3])
redis.call('ZADD', KEYS[2], 'GT', ARGV[3], ARGV[4])
redis.call('HSET', KEYS[3], ARGV[4], ARGV[2])
return before`;

// Same keys and arguments (expiry unused). Returns the live instances left; 0: the user went offline.
const closeScript = `
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
local left = redis.call('ZCARD', KEYS[1])
if left == 0 then
  redis.call('ZREM', KEYS[2], ARGV[4])
  redis.call('DEL', KEYS[1])
end
redis.call('HSET', KEYS[3], ARGV[4], ARGV[2])
return left`;

// KEYS: all users' latest expiry. ARGV: now, the per-user key prefix. Users whose every instance expired
// are removed and returned (each by one reaper only: the script runs atomically).
const reapScript = `
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, 1000)
local gone = {}
for _, member in ipairs(due) do
  local k = ARGV[2] .. member
  redis.call('ZREMRANGEBYSCORE', k, '-inf', ARGV[1])
  local latest = redis.call('ZRANGE', k, -1, -1, 'WITHSCORES')
  if latest[2] then
    redis.call('ZADD', KEYS[1], latest[2], member)
  else
    redis.call('ZREM', KEYS[1], member)
    table.insert(gone, member)
  end
end
return gone`;

interface PresenceCommands {
  presenceOpen(k1: string, k2: string, k3: string, ...args: Array<string | number>): Promise<number>;
  presenceClose(k1: string, k2: string, k3: string, ...args: Array<string | number>): Promise<number>;
  presenceReap(k1: string, ...args: Array<string | number>): Promise<string[]>;
}

/** Connects; resolves once Redis answers. */
export async function createRedisPresence(options: RedisPresenceOptions): Promise<Presence> {
  const { bus, clock, logger, refreshMs } = options;
  const prefix = `${options.prefix ?? redisPresenceDefaults.prefix}presence:`;
  const userPrefix = `${prefix}user:`;
  const allKey = `${prefix}all`;
  const seenKey = `${prefix}seen`;
  const instance = randomUUID();
  const redis = new Redis(options.url, { lazyConnect: true, maxRetriesPerRequest: 1 }) as Redis &
    PresenceCommands;
  redis.defineCommand('presenceOpen', { numberOfKeys: 3, lua: openScript });
  redis.defineCommand('presenceClose', { numberOfKeys: 3, lua: closeScript });
  redis.defineCommand('presenceReap', { numberOfKeys: 1, lua: reapScript });
  redis.on('error', (err: Error) => logger.debug({ err: err.message }, 'presence redis error'));
  await redis.connect();

  /** Users with a session on this instance, as `app\nuser`. */
  const local = new Set<string>();
  /** Per user, the last change sent to Redis, so one user's open and close apply in order. */
  const chains = new Map<string, Promise<void>>();
  const expiry = (now: number) => now + Math.round(refreshMs * 1.5);
  const split = (member: string) => {
    const i = member.indexOf('\n');
    return { appId: member.slice(0, i), userId: member.slice(i + 1) };
  };

  function change(member: string, run: () => Promise<void>): void {
    const next = (chains.get(member) ?? Promise.resolve())
      .then(run)
      .catch((err: unknown) => logger.warn({ err }, 'presence change not recorded in redis'))
      .finally(() => {
        if (chains.get(member) === next) chains.delete(member);
      });
    chains.set(member, next);
  }

  async function refresh(): Promise<void> {
    if (local.size === 0) return;
    const now = clock.now();
    const until = expiry(now);
    const pipeline = redis.pipeline();
    for (const member of local) {
      pipeline.zadd(userPrefix + member, until, instance);
      pipeline.pexpireat(userPrefix + member, until);
      pipeline.zadd(allKey, 'GT', until, member);
      pipeline.hset(seenKey, member, now);
    }
    await pipeline.exec();
  }

  async function reap(): Promise<void> {
    const now = clock.now();
    const gone = await redis.presenceReap(allKey, now, userPrefix);
    for (const member of gone) {
      const { appId, userId } = split(member);
      const seen = Number(await redis.hget(seenKey, member)) || now;
      await bus.publish({ kind: 'presence', appId, userId, online: false, at: seen });
    }
  }

  const refreshTimer = setInterval(
    () => void refresh().catch((err: unknown) => logger.warn({ err }, 'presence refresh failed')),
    refreshMs,
  );
  const reapTimer = setInterval(
    () => void reap().catch((err: unknown) => logger.warn({ err }, 'presence reap failed')),
    Math.max(1, Math.round(refreshMs / 4)),
  );
  refreshTimer.unref();
  reapTimer.unref();

  const presence: Presence = {
    opened(appId, userId) {
      const member = `${appId}\n${userId}`;
      local.add(member);
      change(member, async () => {
        const now = clock.now();
        const before = await redis.presenceOpen(
          userPrefix + member,
          allKey,
          seenKey,
          instance,
          now,
          expiry(now),
          member,
        );
        if (Number(before) === 0)
          await bus.publish({ kind: 'presence', appId, userId, online: true, at: now });
      });
    },
    closed(appId, userId) {
      const member = `${appId}\n${userId}`;
      local.delete(member);
      change(member, async () => {
        const now = clock.now();
        const left = await redis.presenceClose(
          userPrefix + member,
          allKey,
          seenKey,
          instance,
          now,
          0,
          member,
        );
        if (Number(left) === 0)
          await bus.publish({ kind: 'presence', appId, userId, online: false, at: now });
      });
    },
    async states(appId, userIds) {
      const now = clock.now();
      const pipeline = redis.pipeline();
      for (const userId of userIds) {
        pipeline.zrangebyscore(`${userPrefix}${appId}\n${userId}`, now, '+inf', 'LIMIT', 0, 1);
        pipeline.hget(seenKey, `${appId}\n${userId}`);
      }
      const results = (await pipeline.exec()) ?? [];
      return userIds.map((userId, i) => {
        const [liveErr, live] = results[2 * i] ?? [];
        const [seenErr, seen] = results[2 * i + 1] ?? [];
        if (liveErr || seenErr) throw liveErr ?? seenErr;
        const online = Array.isArray(live) && live.length > 0;
        const at = online ? now : seen ? Number(seen) : undefined;
        return { userId, online, lastSeenAt: at === undefined ? null : new Date(at).toISOString() };
      });
    },
    async close() {
      clearInterval(refreshTimer);
      clearInterval(reapTimer);
      // Sessions still counted here are gone with the instance.
      for (const member of [...local]) {
        const { appId, userId } = split(member);
        presence.closed(appId, userId);
      }
      await Promise.all([...chains.values()]);
      redis.disconnect();
    },
  };
  return presence;
}
