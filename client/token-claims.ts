// What the client reads from its user token (a JWT) without verifying it — the server verifies: the user
// it names (long-poll mode) and when it expires (when to hand the connection a fresh one).

/** The `sub` and `exp` claims of a JWT, or none when it cannot be read. */
export function claimsOf(token: string): { sub?: string; exp?: number } {
  try {
    const part = token.split('.')[1] ?? '';
    const json = atob(
      part
        .replace(/-/g, '+')
        .replace(/_/g, '/')
        .padEnd(Math.ceil(part.length / 4) * 4, '='),
    );
    const { sub, exp } = JSON.parse(json) as { sub?: unknown; exp?: unknown };
    return {
      ...(typeof sub === 'string' ? { sub } : {}),
      ...(typeof exp === 'number' ? { exp } : {}),
    };
  } catch {
    return {};
  }
}
