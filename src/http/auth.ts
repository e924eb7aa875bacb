// Bearer authentication. Three kinds of token: the admin token (compared in constant time), app API keys
// (`oky_…`, looked up by their sha256) and user tokens (JWTs). Each route states which it accepts.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { apiKeyPrefix, type Apps } from '../apps/apps.js';
import type { Actor, AppPrincipal, Principal, UserPrincipal } from '../apps/principal.js';
import type { UserTokens } from '../apps/user-tokens.js';
import { OncelyError } from '../errors.js';
import { LruMap } from '../lru-map.js';
import type { RateLimits } from './rate-limits.js';

const digest = (s: string) => createHash('sha256').update(s).digest();

export function bearerToken(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  if (!header) return undefined;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (!match) throw OncelyError.of('invalid_authorization', 'use "Authorization: Bearer <token>"');
  return match[1];
}

export function createAuth({
  apps,
  userTokens,
  adminToken,
}: {
  apps: Apps;
  userTokens: UserTokens;
  adminToken: string;
}) {
  const adminDigest = digest(adminToken);
  // API key → app id; keys are never revoked in this version, so the cache cannot go stale.
  const keyCache = new LruMap<string, string>(10_000);

  async function principalOf(token: string): Promise<Principal> {
    if (token.startsWith(apiKeyPrefix)) {
      let appId = keyCache.get(token);
      if (!appId) {
        appId = await apps.appForApiKey(token);
        if (!appId) throw OncelyError.of('invalid_api_key', 'the API key is not valid');
        keyCache.set(token, appId);
      }
      return { kind: 'app', appId };
    }
    // A user token seen before is answered from memory, before hashing the token for the admin compare.
    const known = userTokens.cached(token);
    if (known) return { kind: 'user', ...known };
    if (timingSafeEqual(digest(token), adminDigest)) return { kind: 'admin' };
    if (token.split('.').length === 3) {
      const claims = await userTokens.verify(token);
      return { kind: 'user', ...claims };
    }
    throw OncelyError.of('invalid_token', 'the token is not valid');
  }

  async function principal(request: FastifyRequest): Promise<Principal> {
    const token = bearerToken(request);
    if (!token) throw OncelyError.of('missing_token', 'this endpoint needs "Authorization: Bearer <token>"');
    return principalOf(token);
  }

  return { principalOf, ...byKind(principal) };
}

/** The checks each route states, over one way of finding a request's principal. */
function byKind(principal: (request: FastifyRequest) => Promise<Principal>) {
  return {
    principal,
    async admin(request: FastifyRequest): Promise<void> {
      const p = await principal(request);
      if (p.kind !== 'admin') throw OncelyError.of('admin_only', 'this endpoint needs the admin token');
    },
    async app(request: FastifyRequest): Promise<AppPrincipal> {
      const p = await principal(request);
      if (p.kind !== 'app') throw OncelyError.of('app_key_required', 'this endpoint needs an app API key');
      return p;
    },
    async user(request: FastifyRequest): Promise<UserPrincipal> {
      const p = await principal(request);
      if (p.kind !== 'user') throw OncelyError.of('user_token_required', 'this endpoint needs a user token');
      return p;
    },
    async actor(request: FastifyRequest): Promise<Actor> {
      const p = await principal(request);
      if (p.kind === 'admin')
        throw OncelyError.of('app_or_user_required', 'this endpoint needs an app API key or a user token');
      return p;
    },
  };
}

export type Auth = ReturnType<typeof createAuth>;

/**
 * The same checks with rate limits around them: an address over its failed-authentication limit is refused
 * before its token is read, each failure is counted, and each authenticated request counts for its app or user.
 */
export function rateLimitedAuth(auth: Auth, limits: RateLimits): Auth {
  return {
    ...auth,
    ...byKind(async (request) => {
      await limits.beforeAuth(request.ip);
      let p: Principal;
      try {
        p = await auth.principal(request);
      } catch (err) {
        if (err instanceof OncelyError && err.status === 401) await limits.authFailed(request.ip);
        throw err;
      }
      await limits.authenticated(request.ip, p);
      return p;
    }),
  };
}
