// Rate limits: requests per app and per user, and failed authentications per client address, each over a
// fixed window, answered `429 rate_limited` with `Retry-After`. Counted by @fastify/rate-limit, in this
// process or, with ONCELY_REDIS_URL, in Redis so that every instance shares the counts.
import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Redis } from 'ioredis';
import type { Principal } from '../apps/principal.js';
import type { RateLimitConfig } from '../config.js';
import { OncelyError } from '../errors.js';

/** What authentication asks of the limits around each request. */
export interface RateLimits {
  /** Refuses (429) a client address over its failed-authentication limit, before its token is checked. */
  beforeAuth(request: FastifyRequest): Promise<void>;
  /** Counts a failed authentication of the address. */
  authFailed(request: FastifyRequest): Promise<void>;
  /** Counts a request of an app or a user; refuses it (429) over the limit. */
  authenticated(request: FastifyRequest, principal: Principal): Promise<void>;
}

type Check = ReturnType<FastifyInstance['createRateLimit']>;

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

  // The key of each check is computed here, not from the request alone: it is set just before the call.
  const keys = new WeakMap<FastifyRequest, string>();
  const limiter = (max: number): Check | undefined =>
    max > 0
      ? app.createRateLimit({
          max,
          timeWindow: config.windowMs,
          keyGenerator: (request) => keys.get(request) ?? request.ip,
        })
      : undefined;
  const appCheck = limiter(config.appMax);
  const userCheck = limiter(config.userMax);
  const failureCheck = limiter(config.authFailureMax);

  async function run(check: Check, request: FastifyRequest, key: string, increment = true) {
    keys.set(request, key);
    return check(request, { increment });
  }

  return {
    async beforeAuth(request) {
      if (!failureCheck) return;
      const r = await run(failureCheck, request, `auth-failed:${request.ip}`, false);
      if (!r.isAllowed && r.isExceeded)
        throw limited('too many failed authentications from this address', r.ttlInSeconds);
    },
    async authFailed(request) {
      if (!failureCheck) return;
      const r = await run(failureCheck, request, `auth-failed:${request.ip}`);
      if (!r.isAllowed && r.isExceeded)
        throw limited('too many failed authentications from this address', r.ttlInSeconds);
    },
    async authenticated(request, p) {
      if (p.kind === 'admin') return;
      const [check, key] =
        p.kind === 'user' ? [userCheck, `user:${p.appId}:${p.userId}`] : [appCheck, `app:${p.appId}`];
      if (!check) return;
      const r = await run(check, request, key);
      if (!r.isAllowed && r.isExceeded) throw limited(`too many requests for this ${p.kind}`, r.ttlInSeconds);
    },
  };
}
