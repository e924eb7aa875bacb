#!/usr/bin/env node
// Entry point of the `oncely` command: runs the compiled server in dist/ (built by `npm install` or
// `npm run build`), with source maps on so a stack trace names the TypeScript line.
import { existsSync } from 'node:fs';

const cli = new URL('../dist/src/cli.js', import.meta.url);
if (!existsSync(cli)) {
  process.stderr.write('oncely: the server is not built: run "npm run build" in the oncely directory\n');
  process.exit(1);
}
process.setSourceMapsEnabled(true);
await import(cli.href);
