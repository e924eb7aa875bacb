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
  /** The token's expiry (ms). */
  expiresAt: number;
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
   * The claims of a token verified before and still valid by everything `verify` checks, answered without
   * waiting; undefined when it takes `verify` to tell (not seen, expired, or its app's key due a re-read).
   */
  cached(token: string): UserClaims | undefined;
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

/** A verified token: the entry is never used past its claims' `expiresAt`. */
interface Verified {
  claims: UserClaims;
  /** The key that verified it: the entry holds only while that key is still the app's. */
  key: CryptoKey;
}

/** How far an `iat` may lie ahead of this instance's clock: the skew tolerated between instances. */
const issuedAtLeewayMs = 60_000;

const importHmacKey = (secret: string) =>
  crypto.subtle.importKey('raw', new TextEncoder().encode(secret), { name: 'HMAC', hash: 'SHA-256' }, false, [
    'sign',
    'verify',
  ]);

export function createUserTokens(options: UserTokensOptions): UserTokens {
  const { apps, clock } = options;
  const secretCheckMs = options.secretCheckMs ?? userTokensDefaults.secretCheckMs;
  /** Each app's key as last read; `reading` holds the read under way, one per app. */
  const keys = new Map<string, AppKey>();
  const reading = new Map<string, Promise<AppKey | undefined>>();
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

  /** The app's key if read less than `secretCheckMs` ago. */
  function freshKey(appId: string): AppKey | undefined {
    const key = keys.get(appId);
    return key && clock.now() - key.checkedAt < secretCheckMs ? key : undefined;
  }

  /** The app's current key: read at most every `secretCheckMs`, and one read at a time per app. */
  function keyFor(appId: string): Promise<AppKey | undefined> {
    const fresh = freshKey(appId);
    if (fresh) return Promise.resolve(fresh);
    let read = reading.get(appId);
    if (!read) {
      const started: Promise<AppKey | undefined> = readKey(appId, keys.get(appId)).then((key) => {
        // A rotation while this read ran dropped it from `reading`: its answer may be the old secret.
        if (reading.get(appId) === started) {
          if (key) keys.set(appId, key);
          else keys.delete(appId);
        }
        return key;
      });
      read = started.finally(() => {
        if (reading.get(appId) === started) reading.delete(appId);
      });
      reading.set(appId, started);
    }
    return read;
  }

  function cached(token: string): UserClaims | undefined {
    const hit = verified.get(token);
    if (!hit || clock.now() >= hit.claims.expiresAt) return undefined;
    return freshKey(hit.claims.appId)?.key === hit.key ? hit.claims : undefined;
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
      // Issued in the future by more than instances' clocks may disagree: not valid yet (jose checks `iat`
      // only against a maximum age).
      if (typeof payload.iat === 'number' && payload.iat * 1000 > clock.now() + issuedAtLeewayMs) {
        throw OncelyError.of('token_not_yet_valid', 'the token is issued in the future (its "iat")');
      }
      return { claims: { appId, userId: payload.sub, expiresAt: payload.exp * 1000 }, key: appKey.key };
    } catch (err) {
      if (err instanceof OncelyError) throw err;
      if (err instanceof joseErrors.JWTExpired)
        throw OncelyError.of('token_expired', 'the token has expired');
      if (err instanceof joseErrors.JWTClaimValidationFailed && err.claim === 'nbf')
        throw OncelyError.of(
          'token_not_yet_valid',
          'the token is not valid yet (its "nbf" is in the future)',
        );
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

    cached,

    async verify(token) {
      const known = cached(token);
      if (known) return known;
      const hit = verified.get(token);
      if (hit) {
        // No cache lets through what verification would refuse: an expired token, or one whose app key
        // has changed (rotated) since it was verified.
        if (clock.now() >= hit.claims.expiresAt) {
          verified.delete(token);
          throw OncelyError.of('token_expired', 'the token has expired');
        }
        if ((await keyFor(hit.claims.appId))?.key === hit.key) return hit.claims;
        verified.delete(token);
      }
      const fresh = await verifySigned(token);
      verified.set(token, fresh);
      return fresh.claims;
    },

    async rotateSecret(appId) {
      if (!(await apps.rotateTokenSecret(appId)))
        throw OncelyError.of('app_not_found', `app ${appId} does not exist`);
      // This instance stops accepting the old tokens at once; others on their next secret check.
      keys.delete(appId);
      reading.delete(appId);
    },
  };
}
