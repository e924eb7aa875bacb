// Builds the web client for the tests that load it, when web/dist is missing or older than its sources
// (web/ or the client library it bundles), so a test never runs against a stale page.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
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
  execFileSync('npm', ['run', 'build:web'], { cwd: repoRoot, stdio: 'ignore' });
}
