// Builds the server into dist/ for the tests that run the `oncely` command as installed (`npm install` runs
// the same build), once per test process. tsc is incremental, so an up-to-date build costs a couple of
// seconds; builds from parallel test processes take turns (flock), so none reads a half-written dist/.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const repoRoot = resolve(import.meta.dirname, '..');
let built = false;

export function ensureServerBuilt(): void {
  if (built) return;
  const lock = join(
    tmpdir(),
    `oncely-build-${createHash('sha1').update(repoRoot).digest('hex').slice(0, 12)}.lock`,
  );
  execFileSync(
    'flock',
    [lock, process.execPath, join(repoRoot, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'],
    { cwd: repoRoot, stdio: 'pipe' },
  );
  built = true;
}
