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

export async function registerWebClientRoutes(app: TypedApp, s: Services): Promise<void> {
  if (!existsSync(webDistDir)) {
    s.logger.warn({ dir: webDistDir }, 'the web client is not built: run "npm run build:web"');
    app.get('/', { schema: { hide: true } }, async (_request, reply) =>
      reply
        .status(503)
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
    cacheControl: false,
    // Built assets carry a content hash in their names and never change; the page itself must be fresh.
    setHeaders(res, path) {
      res.setHeader(
        'cache-control',
        path.includes('/assets/') ? 'public, max-age=31536000, immutable' : 'no-cache',
      );
    },
  });
}
