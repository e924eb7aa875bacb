// Rate limits: requests per app and per user, and failed authentications per client address, each over a
// fixed window, answered `429 rate_limited` with `Retry-After`. Counted by @fastify/rate-limit, in this
// process or, with ONCELY_REDIS_URL, in Redis so that every instance shares the counts.
import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Redis } from 'ioredis';
import type { Principal } from '../apps/principal.js';
import type { RateLimitConfig } from '../config.js';
import { OncelyError } from '../errors.js';

/**
 * What authentication asks of the limits around each request, by client address: an HTTP request's, and a
 * realtime session's (a WebSocket upgrade, an SSE `?token=`) alike.
 */
export interface RateLimits {
  /** Refuses (429) a client address over its failed-authentication limit, before its token is checked. */
  beforeAuth(address: string): Promise<void>;
  /** Counts a failed authentication of the address. */
  authFailed(address: string): Promise<void>;
  /** Counts a request (or a new realtime session) of an app or a user; refuses it (429) over the limit. */
  authenticated(address: string, principal: Principal): Promise<void>;
}

type Check = ReturnType<FastifyInstance['createRateLimit']>;
/** What a check is handed in place of a request. */
interface Probe {
  key: string;
  routeOptions: { config: object };
}

const limited = (what: string, ttlSeconds: number) =>
  OncelyError.of('rate_limited', `${what}; retry in ${ttlSeconds} s`, {
    retryAfterSeconds: Math.max(1, ttlSeconds),
  });

/**
 * Registers the limiter on the server (its Redis connection, when there is one, closes with it) and returns
 * the checks authentication runs.
 */
export async function registerRateLimits(
  app: FastifyInstance,
  config: RateLimitConfig,
  redisUrl: string | undefined,
): Promise<RateLimits> {
  const redis = redisUrl
    ? new Redis(redisUrl, { maxRetriesPerRequest: 1, connectTimeout: 2000, enableOfflineQueue: false })
    : undefined;
  if (redis) {
    redis.on('error', () => undefined);
    app.addHook('onClose', async () => void redis.disconnect());
  }
  // Counting must never take the API down with Redis: while Redis is unreachable requests pass uncounted.
  await app.register(rateLimit, { global: false, redis, skipOnError: true, nameSpace: 'oncely-rate-' });

  // The key of each check is computed here, not from a request: the limiter is handed the key alone.
  const limiter = (max: number): Check | undefined =>
    max > 0
      ? app.createRateLimit({
          max,
          timeWindow: config.windowMs,
          keyGenerator: (probe) => (probe as unknown as Probe).key,
        })
      : undefined;
  const appCheck = limiter(config.appMax);
  const userCheck = limiter(config.userMax);
  const failureCheck = limiter(config.authFailureMax);

  async function run(check: Check, key: string, increment = true) {
    // The limiter reads nothing of a request but its key and the route's group (none: counts are by key).
    const probe: Probe = { key, routeOptions: { config: {} } };
    return check(probe as unknown as FastifyRequest, { increment });
  }

  return {
    async beforeAuth(address) {
      if (!failureCheck) return;
      const r = await run(failureCheck, `auth-failed:${address}`, false);
      if (!r.isAllowed && r.isExceeded)
        throw limited('too many failed authentications from this address', r.ttlInSeconds);
    },
    async authFailed(address) {
      if (!failureCheck) return;
      const r = await run(failureCheck, `auth-failed:${address}`);
      if (!r.isAllowed && r.isExceeded)
        throw limited('too many failed authentications from this address', r.ttlInSeconds);
    },
    async authenticated(_address, p) {
      if (p.kind === 'admin') return;
      const [check, key] =
        p.kind === 'user' ? [userCheck, `user:${p.appId}:${p.userId}`] : [appCheck, `app:${p.appId}`];
      if (!check) return;
      const r = await run(check, key);
      if (!r.isAllowed && r.isExceeded) throw limited(`too many requests for this ${p.kind}`, r.ttlInSeconds);
    },
  };
}
