// The connection registry of several instances: each user's live connections are members of one Redis
// sorted set, scored by when they stop counting. Each instance renews its own members' scores while they
// live, so a killed instance's connections stop counting within `entryTtlMs` instead of forever.
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import type { Logger } from '../observability/logger.js';
import {
  createMemoryConnectionRegistry,
  type ConnectionRegistry,
  type ConnectionRelease,
} from './connection-registry.js';

export interface RedisConnectionRegistryOptions {
  url: string;
  /** Key prefix; the composition root puts the store's epoch in it. @defaultValue "oncely:" */
  prefix?: string;
  logger: Logger;
  /** How long a connection counts without being renewed (a killed instance's). @defaultValue 60 000 */
  entryTtlMs?: number;
}

export const redisConnectionRegistryDefaults = { prefix: 'oncely:', entryTtlMs: 60_000 };

// Check and add in one step: two instances reserving the last place at once cannot both get it.
const reserveScript = `
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[4]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return 1`;

type ReserveCommand = (
  key: string,
  now: number,
  until: number,
  member: string,
  max: number,
  ttlMs: number,
) => Promise<number>;

/** Opens the registry; resolves once Redis is connected (the start fails when it cannot be reached). */
export async function createRedisConnectionRegistry(
  options: RedisConnectionRegistryOptions,
): Promise<ConnectionRegistry> {
  const prefix = options.prefix ?? redisConnectionRegistryDefaults.prefix;
  const ttlMs = options.entryTtlMs ?? redisConnectionRegistryDefaults.entryTtlMs;
  const instance = randomUUID();
  // Fails fast while Redis is away (no offline queue): a reservation then falls back to this instance's
  // own count rather than waiting, so a Redis outage never blocks connecting.
  const redis = new Redis(options.url, {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
  });
  redis.on('error', () => undefined); // the bus logs Redis outages
  try {
    await redis.connect();
  } catch (err) {
    redis.disconnect();
    // Never the URL: it may hold a password.
    throw new Error(`cannot reach Redis at ONCELY_REDIS_URL: ${(err as Error).message}`);
  }
  redis.defineCommand('oncelyReserve', { numberOfKeys: 1, lua: reserveScript });
  const reserveInRedis = (redis as unknown as { oncelyReserve: ReserveCommand }).oncelyReserve.bind(redis);
  const local = createMemoryConnectionRegistry();
  /** This instance's members in Redis, by member, with their key. */
  const live = new Map<string, string>();

  const renew = setInterval(
    () => {
      if (live.size === 0 || redis.status !== 'ready') return;
      const until = Date.now() + ttlMs;
      const pipeline = redis.pipeline();
      for (const [member, key] of live) pipeline.zadd(key, 'XX', until, member).pexpire(key, ttlMs);
      pipeline.exec().catch(() => undefined);
    },
    Math.max(50, Math.floor(ttlMs / 3)),
  );
  renew.unref();

  return {
    async reserve(appId, userId, max): Promise<ConnectionRelease | undefined> {
      const key = `${prefix}connections:${appId.length}:${appId}:${userId}`;
      const member = `${instance}:${randomUUID()}`;
      const now = Date.now();
      let granted: number;
      try {
        granted = await reserveInRedis(key, now, now + ttlMs, member, max, ttlMs);
      } catch (err) {
        options.logger.warn(
          { err: (err as Error).message },
          'connection registry: Redis unreachable; counting this instance only',
        );
        return local.reserve(appId, userId, max);
      }
      if (granted !== 1) return undefined;
      live.set(member, key);
      return () => {
        if (!live.delete(member)) return;
        redis.zrem(key, member).catch(() => undefined); // else it stops counting at its expiry
      };
    },
    async close() {
      clearInterval(renew);
      if (live.size > 0 && redis.status === 'ready') {
        const pipeline = redis.pipeline();
        for (const [member, key] of live) pipeline.zrem(key, member);
        await pipeline.exec().catch(() => undefined);
      }
      live.clear();
      await local.close();
      await redis.quit().catch(() => redis.disconnect());
    },
  };
}
