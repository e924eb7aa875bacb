// Writes the README's list of error codes from the catalogue in src/errors.ts (`npm run docs:errors`), between
// its `error-codes` markers. test/unit/error-catalogue.test.ts fails when the README and the catalogue differ.
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as prettier from 'prettier';
import { errorCatalogue, type ErrorEntry } from '../src/errors.js';

export const readmePath = fileURLToPath(new URL('../README.md', import.meta.url));
const start = '<!-- error-codes: made by `npm run docs:errors` from src/errors.ts -->';
const end = '<!-- /error-codes -->';

/** The status column: the HTTP status, or where a code that is never an HTTP answer comes instead. */
export function statusCell(entry: ErrorEntry): string {
  if (entry.only === 'realtime') return 'frame';
  if (entry.only === 'item') return 'item';
  return String(entry.status);
}

/** One row per code, in the catalogue's order: code, status, retry, meaning. */
export function errorRows(): string[][] {
  return Object.entries(errorCatalogue as Record<string, ErrorEntry>).map(([code, entry]) => [
    `\`${code}\``,
    statusCell(entry),
    entry.retryable ? 'yes' : '',
    entry.meaning + (entry.beforeRoute ? ' — before any route runs' : ''),
  ]);
}

function table(): string {
  const head = ['code', 'status', 'retry', 'meaning'];
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`;
  return [line(head), line(head.map(() => '---')), ...errorRows().map(line)].join('\n');
}

/** The README's table rows as cells (the test compares them with `errorRows`). */
export function documentedRows(readme: string): string[][] {
  const from = readme.indexOf(start);
  const to = readme.indexOf(end);
  if (from < 0 || to < from) throw new Error('README.md has no error-codes markers');
  return readme
    .slice(from, to)
    .split('\n')
    .filter((l) => l.startsWith('|'))
    .slice(2)
    .map((l) =>
      l
        .slice(1, -1)
        .split(/(?<!\\)\|/)
        .map((c) => c.trim()),
    );
}

async function main(): Promise<void> {
  const readme = readFileSync(readmePath, 'utf8');
  const from = readme.indexOf(start);
  const to = readme.indexOf(end);
  if (from < 0 || to < from) throw new Error('README.md has no error-codes markers');
  const next = `${readme.slice(0, from + start.length)}\n\n${table()}\n\n${readme.slice(to)}`;
  const options = (await prettier.resolveConfig(readmePath)) ?? {};
  writeFileSync(readmePath, await prettier.format(next, { ...options, filepath: readmePath }));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main();
