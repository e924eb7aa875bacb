// Build of the browser app: Preact through esbuild's JSX transform (no Babel), emitted to web/dist, which
// the server serves at `/`.
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: '/',
  logLevel: 'warn',
  esbuild: { jsx: 'automatic', jsxImportSource: 'preact' },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    // Maps are written for debugging builds but not referenced from the bundle: the server never serves them.
    sourcemap: 'hidden',
    reportCompressedSize: false,
  },
});
