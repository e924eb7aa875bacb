// Builds the web client for the tests that load it, when web/dist is missing or older than its sources
// (web/ or the client library it bundles), so a test never runs against a stale page. Builds from parallel
// test processes take turns (flock) and each checks again once it has the lock, so none rebuilds a page another
// is reading.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from './harness.js';

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(path) : statSync(path).mtimeMs);
  }
  return newest;
}

export function ensureWebBuilt(): void {
  const built = join(repoRoot, 'web/dist/index.html');
  const sources = Math.max(
    newestMtime(join(repoRoot, 'web/src')),
    newestMtime(join(repoRoot, 'client')),
    statSync(join(repoRoot, 'web/index.html')).mtimeMs,
  );
  if (existsSync(built) && statSync(built).mtimeMs >= sources) return;
  const lock = join(
    tmpdir(),
    `oncely-web-build-${createHash('sha1').update(repoRoot).digest('hex').slice(0, 12)}.lock`,
  );
  const buildIfStale =
    'if [ ! -e web/dist/index.html ] || ' +
    '[ -n "$(find web/src client web/index.html -newer web/dist/index.html -print -quit)" ]; ' +
    'then npm run -s build:web; fi';
  execFileSync('flock', [lock, 'sh', '-c', buildIfStale], { cwd: repoRoot, stdio: 'ignore' });
}
