// External servers the tests need (Redis, NATS, PostgreSQL, Chromium). Without ONCELY_REQUIRE_SERVICES a
// missing one skips its tests with a message naming the package to install; with it, the run fails.
import { existsSync } from 'node:fs';
import { execFileSync } from 'node:child_process';

export const requireServices = process.env.ONCELY_REQUIRE_SERVICES === '1';

export function findBinary(candidates: string[]): string | undefined {
  for (const c of candidates) {
    if (c.includes('/')) {
      if (existsSync(c)) return c;
      continue;
    }
    try {
      return execFileSync('sh', ['-c', `command -v ${c}`], { encoding: 'utf8' }).trim() || undefined;
    } catch {
      /* not on PATH */
    }
  }
  return undefined;
}

/**
 * Returns the binary's path, or undefined when tests should be skipped (after saying why).
 * Throws when ONCELY_REQUIRE_SERVICES=1 and the binary is missing.
 */
export function serviceBinary(what: string, candidates: string[], debianPackage: string): string | undefined {
  const found = findBinary(candidates);
  if (found) return found;
  const message = `${what} not found (looked for ${candidates.join(', ')}): install it with "apt-get install -y ${debianPackage}"`;
  if (requireServices) throw new Error(`${message} — ONCELY_REQUIRE_SERVICES=1 forbids skipping`);
  console.warn(`skipping tests that need ${what}: ${message}`);
  return undefined;
}
