// User tokens: short-lived HS256 JWTs signed with the app's own secret (kept in the database, so every
// instance verifies them). The header's `kid` names the app whose secret signed it. Verification is cached:
// each app's key is imported once, and a verified token is remembered until it expires.
import { SignJWT, errors as joseErrors, jwtVerify, decodeProtectedHeader } from 'jose';
import type { Clock } from '../clock.js';
import { OncelyError } from '../errors.js';
import type { Apps } from './apps.js';
import { LruMap } from '../lru-map.js';

export interface UserClaims {
  appId: string;
  userId: string;
}

export interface UserTokensOptions {
  apps: Apps;
  clock: Clock;
  /**
   * How long an app's secret is used without reading it again. A secret rotated on another instance stops
   * verifying (and invalidates what it signed) here within this time; on this instance at once.
   * @defaultValue 1000
   */
  secretCheckMs?: number;
  /** @defaultValue 10 000 verified tokens */
  maxCachedTokens?: number;
}

export const userTokensDefaults = { secretCheckMs: 1000, maxCachedTokens: 10_000 };

export interface UserTokens {
  issue(appId: string, userId: string, ttlSeconds: number): Promise<{ token: string; expiresAt: string }>;
  /** The claims of a valid token; 401 `invalid_token` or `token_expired` otherwise. */
  verify(token: string): Promise<UserClaims>;
  /**
   * Replaces the app's signing secret: every token it signed is refused from now on — on this instance at
   * once, on the others within `secretCheckMs`. 404 `app_not_found` for an unknown app.
   */
  rotateSecret(appId: string): Promise<void>;
}

/** An app's secret as a key made once; `checkedAt` is when the secret was last read from the database. */
interface AppKey {
  secret: string;
  key: CryptoKey;
  checkedAt: number;
}

interface Verified extends UserClaims {
  /** Expiry of the token (ms): the entry is never used past it. */
  expiresAt: number;
  /** The key that verified it: the entry holds only while that key is still the app's. */
  key: CryptoKey;
}

const importHmacKey = (secret: string) =>
  crypto.subtle.importKey('raw', new TextEncoder().encode(secret), { name: 'HMAC', hash: 'SHA-256' }, false, [
    'sign',
    'verify',
  ]);

export function createUserTokens(options: UserTokensOptions): UserTokens {
  const { apps, clock } = options;
  const secretCheckMs = options.secretCheckMs ?? userTokensDefaults.secretCheckMs;
  const keys = new Map<string, Promise<AppKey | undefined>>();
  // Keyed by the whole token: a hit needs the exact token, signature included, so a probe learns nothing.
  const verified = new LruMap<string, Verified>(
    options.maxCachedTokens ?? userTokensDefaults.maxCachedTokens,
  );

  async function readKey(appId: string, previous: AppKey | undefined): Promise<AppKey | undefined> {
    const checkedAt = clock.now();
    const secret = await apps.tokenSecret(appId);
    if (secret === undefined) return undefined;
    // An unchanged secret keeps its key object, so tokens verified with it stay valid in the cache.
    if (previous?.secret === secret) return { ...previous, checkedAt };
    return { secret, key: await importHmacKey(secret), checkedAt };
  }

  /** The app's current key: read at most every `secretCheckMs`, and one read at a time per app. */
  async function keyFor(appId: string): Promise<AppKey | undefined> {
    const cached = keys.get(appId);
    const current = cached && (await cached);
    if (current && clock.now() - current.checkedAt < secretCheckMs) return current;
    if (keys.get(appId) !== cached) return keyFor(appId);
    const reading = readKey(appId, current);
    keys.set(appId, reading);
    // A failed read is not remembered: the next call reads again.
    reading.catch(() => keys.delete(appId));
    const key = await reading;
    if (!key) keys.delete(appId);
    return key;
  }

  async function verifySigned(token: string): Promise<Verified> {
    let appId: string | undefined;
    try {
      appId = decodeProtectedHeader(token).kid;
    } catch {
      throw OncelyError.of('invalid_token', 'the token is malformed');
    }
    const appKey = appId ? await keyFor(appId) : undefined;
    if (!appId || !appKey) throw OncelyError.of('invalid_token', 'the token was not issued by this server');
    try {
      const { payload } = await jwtVerify(token, appKey.key, {
        algorithms: ['HS256'],
        currentDate: new Date(clock.now()),
      });
      if (typeof payload.sub !== 'string' || payload.app !== appId || typeof payload.exp !== 'number') {
        throw OncelyError.of('invalid_token', 'the token lacks its subject');
      }
      return { appId, userId: payload.sub, expiresAt: payload.exp * 1000, key: appKey.key };
    } catch (err) {
      if (err instanceof joseErrors.JWTExpired)
        throw OncelyError.of('token_expired', 'the token has expired');
      if (err instanceof joseErrors.JOSEError)
        throw OncelyError.of('invalid_token', 'the token signature is invalid');
      throw err;
    }
  }

  return {
    async issue(appId, userId, ttlSeconds) {
      const appKey = await keyFor(appId);
      if (!appKey) throw new Error(`app ${appId} has no token secret`);
      const nowSec = Math.floor(clock.now() / 1000);
      const exp = nowSec + ttlSeconds;
      const token = await new SignJWT({ app: appId })
        .setProtectedHeader({ alg: 'HS256', kid: appId, typ: 'JWT' })
        .setSubject(userId)
        .setIssuedAt(nowSec)
        .setExpirationTime(exp)
        .sign(appKey.key);
      return { token, expiresAt: new Date(exp * 1000).toISOString() };
    },

    async verify(token) {
      const hit = verified.get(token);
      if (hit) {
        // No cache lets through what verification would refuse: an expired token, or one whose app key
        // has changed (rotated) since it was verified.
        if (clock.now() >= hit.expiresAt) {
          verified.delete(token);
          throw OncelyError.of('token_expired', 'the token has expired');
        }
        if ((await keyFor(hit.appId))?.key === hit.key) return { appId: hit.appId, userId: hit.userId };
        verified.delete(token);
      }
      const fresh = await verifySigned(token);
      verified.set(token, fresh);
      return { appId: fresh.appId, userId: fresh.userId };
    },

    async rotateSecret(appId) {
      if (!(await apps.rotateTokenSecret(appId)))
        throw OncelyError.of('app_not_found', `app ${appId} does not exist`);
      // This instance stops accepting the old tokens at once; others on their next secret check.
      keys.delete(appId);
    },
  };
}
