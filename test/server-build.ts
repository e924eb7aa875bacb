// Builds the server into dist/ for the tests that run the `oncely` command as installed (`npm install` runs
// the same build). tsc is incremental, so an up-to-date build costs a couple of seconds.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot } from './harness.js';

export function ensureServerBuilt(): void {
  execFileSync(
    process.execPath,
    [join(repoRoot, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'],
    {
      cwd: repoRoot,
      stdio: 'pipe',
    },
  );
}
