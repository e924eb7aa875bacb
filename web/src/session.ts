// The signed-in session of this tab: the user token (taken from `#token=…` or the sign-in form) and the
// stream cursor, kept in sessionStorage so a reload signs in again and resumes where the page left off.
import type { ClientState } from '../../client/index.js';

const tokenKey = 'oncely.token';
const stateKey = (userId: string) => `oncely.client-state.${userId}`;

export interface Session {
  token: string;
  userId: string;
  appId: string;
  /** Seconds since the epoch at which the token expires. */
  expiresAt: number | undefined;
}

/** Reads the claims the page needs from a user token. The server verifies it; the page only displays. */
export function parseToken(token: string): Session | undefined {
  const payload = token.split('.')[1];
  if (!payload) return undefined;
  try {
    const json = atob(payload.replace(/-/g, '+').replace(/_/g, '/'));
    const claims = JSON.parse(json) as { sub?: unknown; app?: unknown; exp?: unknown };
    if (typeof claims.sub !== 'string' || typeof claims.app !== 'string') return undefined;
    return {
      token,
      userId: claims.sub,
      appId: claims.app,
      expiresAt: typeof claims.exp === 'number' ? claims.exp : undefined,
    };
  } catch {
    return undefined;
  }
}

/**
 * The session a sign-in link carries in its fragment (`#token=…`), which then leaves the address bar so the
 * token is not left in history or shared by copying the URL. Undefined when the fragment has no token; null
 * when it has one that is not a user token.
 */
export function sessionFromLink(): Session | null | undefined {
  const fromHash = new URLSearchParams(location.hash.slice(1)).get('token');
  if (!fromHash) return undefined;
  history.replaceState(null, '', location.pathname + location.search);
  const session = parseToken(fromHash);
  if (!session) return null;
  saveToken(session.token);
  return session;
}

/** The session of a sign-in link, else the one this tab kept. */
export function loadSession(): Session | undefined {
  const fromLink = sessionFromLink();
  if (fromLink) return fromLink;
  const stored = sessionStorage.getItem(tokenKey);
  return stored ? parseToken(stored) : undefined;
}

export function saveToken(token: string): void {
  sessionStorage.setItem(tokenKey, token);
}

export function signOut(): void {
  sessionStorage.removeItem(tokenKey);
}

/** The client library's saved position (cursor and last seq per conversation) for this user. */
export function loadClientState(userId: string): ClientState | undefined {
  const raw = sessionStorage.getItem(stateKey(userId));
  if (!raw) return undefined;
  try {
    return JSON.parse(raw) as ClientState;
  } catch {
    // A damaged entry: start from "now" rather than fail to load the page.
    sessionStorage.removeItem(stateKey(userId));
    return undefined;
  }
}

export function saveClientState(userId: string, state: ClientState): void {
  sessionStorage.setItem(stateKey(userId), JSON.stringify(state));
}

export function clearClientState(userId: string): void {
  sessionStorage.removeItem(stateKey(userId));
}
