// The browser app: the files Vite built into web/dist, served at `/`. Registered after the API routes, whose
// exact paths always win over this wildcard; a path that is neither gets the usual JSON 404.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { Services } from '../../services.js';
import type { TypedApp } from '../server.js';

/** The package's root: the nearest directory above this file with a package.json (src/ or the build in dist/). */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json')) && dirname(dir) !== dir) dir = dirname(dir);
  return dir;
}

export const webDistDir = join(packageRoot(), 'web', 'dist');

/**
 * The page loads only its own files and talks only to this server (`'self'` covers its WebSocket); nothing
 * inline runs, no other site may frame it (clickjacking), and it sends no referrer (a sign-in link's token
 * rides in the fragment, which is never sent, but the page's own URL should not leak either).
 */
export const pageSecurityHeaders: Record<string, string> = {
  'content-security-policy': [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "font-src 'self'",
    "connect-src 'self'",
    "manifest-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; '),
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
};

export async function registerWebClientRoutes(app: TypedApp, s: Services): Promise<void> {
  if (!existsSync(webDistDir)) {
    s.logger.warn({ dir: webDistDir }, 'the web client is not built: run "npm run build:web"');
    app.get('/', { schema: { hide: true } }, async (_request, reply) =>
      reply
        .status(503)
        .headers(pageSecurityHeaders)
        .type('text/plain; charset=utf-8')
        .send('The web client is not built yet: run "npm run build:web" and reload.\n'),
    );
    return;
  }
  await app.register(fastifyStatic, {
    root: webDistDir,
    prefix: '/',
    index: 'index.html',
    schemaHide: true,
    // One route per built file rather than a `/*` wildcard: an API path is never handed to the file server,
    // so the router's own refusals (a path parameter over the limit) and 404s keep the API's error shape.
    wildcard: false,
    // Source maps stay on disk for whoever debugs the build; a visitor gets the 404 of a path that is not there.
    globIgnore: ['**/*.map'],
    cacheControl: false,
    setHeaders(res, path) {
      // Built assets carry a content hash in their names and never change; the page itself must be fresh.
      res.setHeader(
        'cache-control',
        path.includes('/assets/') ? 'public, max-age=31536000, immutable' : 'no-cache',
      );
      if (path.endsWith('.html'))
        for (const [name, value] of Object.entries(pageSecurityHeaders)) res.setHeader(name, value);
    },
  });
}
