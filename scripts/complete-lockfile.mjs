#!/usr/bin/env node
// Completes package-lock.json with the platform-specific optional packages (rollup, esbuild, …) that a
// registry mirror lacking them leaves out; without them `npm ci` refuses the lock as out of sync. Each added
// entry names only its version, os, cpu and libc, so npm skips it on every other platform.
// Run after changing dependencies: `npm run lock:complete`.
import { readFileSync, writeFileSync } from 'node:fs';

const file = new URL('../package-lock.json', import.meta.url);
const lock = JSON.parse(readFileSync(file, 'utf8'));
const packages = lock.packages;

const osNames = [
  'android',
  'darwin',
  'freebsd',
  'linux',
  'openbsd',
  'netbsd',
  'sunos',
  'win32',
  'aix',
  'openharmony',
  'cygwin',
];
const cpuNames = [
  'arm64',
  'arm',
  'x64',
  'ia32',
  'loong64',
  'ppc64',
  'riscv64',
  's390x',
  'mips64el',
  'mipsel',
  'x32',
];

/** os/cpu/libc from a name like @rollup/rollup-linux-arm64-musl or @esbuild/win32-x64. */
function platformOf(name) {
  const parts = name.split('/').pop().split('-');
  const os = parts.find((p) => osNames.includes(p));
  const cpu = parts.find((p) => cpuNames.includes(p));
  const libc = parts.includes('musl')
    ? 'musl'
    : parts.includes('gnu') || parts.includes('gnueabihf')
      ? 'glibc'
      : undefined;
  return { os, cpu, libc };
}

/** Where npm would resolve `dep` from the package at `path`: the nearest node_modules up the tree. */
function resolve(path, dep) {
  let base = path;
  for (;;) {
    const candidate = `${base ? `${base}/` : ''}node_modules/${dep}`;
    if (packages[candidate]) return candidate;
    if (!base) return undefined;
    const idx = base.lastIndexOf('/node_modules/');
    base = idx === -1 ? '' : base.slice(0, idx);
  }
}

let added = 0;
for (const [path, meta] of Object.entries(packages)) {
  for (const [dep, range] of Object.entries(meta.optionalDependencies ?? {})) {
    if (resolve(path, dep)) continue;
    const version = range.replace(/^[\^~=]/, '');
    const top = `node_modules/${dep}`;
    const target = packages[top] ? `${path}/node_modules/${dep}` : top;
    const { os, cpu, libc } = platformOf(dep);
    // Keys in npm's own order (version first, then alphabetical), so a later `npm install` leaves them be.
    const entry = { version };
    if (cpu) entry.cpu = [cpu];
    if (meta.dev) entry.dev = true;
    if (libc) entry.libc = [libc];
    entry.optional = true;
    if (os) entry.os = [os];
    packages[target] = entry;
    added++;
  }
}

// npm orders the entries by locale comparison, the root ('') first.
lock.packages = Object.fromEntries(
  Object.entries(packages).sort(([a], [b]) => (a === '' ? -1 : b === '' ? 1 : a.localeCompare(b, 'en'))),
);
writeFileSync(file, `${JSON.stringify(lock, null, 2)}\n`);
console.log(`package-lock.json: ${added} platform-specific optional entries added`);
