// User tokens: short-lived HS256 JWTs signed with the app's own secret (kept in the database, so every
// instance verifies them). The header's `kid` names the app whose secret signed it.
import { SignJWT, errors as joseErrors, jwtVerify, decodeProtectedHeader } from 'jose';
import type { Clock } from '../clock.js';
import { unauthorized } from '../errors.js';
import type { Apps } from './apps.js';

export interface UserClaims {
  appId: string;
  userId: string;
}

export function createUserTokens({ apps, clock }: { apps: Apps; clock: Clock }) {
  const secrets = new Map<string, Uint8Array>();

  async function secretFor(appId: string): Promise<Uint8Array | undefined> {
    let key = secrets.get(appId);
    if (!key) {
      const secret = await apps.tokenSecret(appId);
      if (!secret) return undefined;
      key = new TextEncoder().encode(secret);
      secrets.set(appId, key);
    }
    return key;
  }

  return {
    async issue(
      appId: string,
      userId: string,
      ttlSeconds: number,
    ): Promise<{ token: string; expiresAt: string }> {
      const key = await secretFor(appId);
      if (!key) throw new Error(`app ${appId} has no token secret`);
      const nowSec = Math.floor(clock.now() / 1000);
      const exp = nowSec + ttlSeconds;
      const token = await new SignJWT({ app: appId })
        .setProtectedHeader({ alg: 'HS256', kid: appId, typ: 'JWT' })
        .setSubject(userId)
        .setIssuedAt(nowSec)
        .setExpirationTime(exp)
        .sign(key);
      return { token, expiresAt: new Date(exp * 1000).toISOString() };
    },

    async verify(token: string): Promise<UserClaims> {
      let appId: string | undefined;
      try {
        appId = decodeProtectedHeader(token).kid;
      } catch {
        throw unauthorized('invalid_token', 'the token is malformed');
      }
      const key = appId ? await secretFor(appId) : undefined;
      if (!appId || !key) throw unauthorized('invalid_token', 'the token was not issued by this server');
      try {
        const { payload } = await jwtVerify(token, key, {
          algorithms: ['HS256'],
          currentDate: new Date(clock.now()),
        });
        if (typeof payload.sub !== 'string' || payload.app !== appId) {
          throw unauthorized('invalid_token', 'the token lacks its subject');
        }
        return { appId, userId: payload.sub };
      } catch (err) {
        if (err instanceof joseErrors.JWTExpired)
          throw unauthorized('token_expired', 'the token has expired');
        if (err instanceof joseErrors.JOSEError)
          throw unauthorized('invalid_token', 'the token signature is invalid');
        throw err;
      }
    },
  };
}

export type UserTokens = ReturnType<typeof createUserTokens>;
