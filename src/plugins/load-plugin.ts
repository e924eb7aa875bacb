// The plugin point (seed 003 §5.4): `ONCELY_PLUGIN` names a module (a path or a package) whose default export
// is ingest hooks, or a factory of them receiving `{config, logger}`. Loaded once at start; a bad plugin
// stops the start with a clear message rather than failing messages later.
import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Config } from '../config.js';
import { OncelyError } from '../errors.js';
import type { IngestHooks } from '../ingest/ingest.js';
import type { Logger } from '../observability/logger.js';

export interface PluginContext {
  config: Config;
  logger: Logger;
}

/** What a plugin module exports by default. */
export type PluginExport = IngestHooks | ((ctx: PluginContext) => IngestHooks | Promise<IngestHooks>);

export class PluginError extends Error {}

/** `./x.js`, `../x`, `/abs/x.ts` are files (relative to the working directory); anything else a package. */
function specifier(spec: string): string {
  if (spec.startsWith('.') || isAbsolute(spec)) return pathToFileURL(resolve(spec)).href;
  return spec;
}

/**
 * A refusal thrown by a plugin that does not import oncely's own OncelyError — any error with a 4xx `status`
 * and a snake_case `code` — still reaches the client as that code instead of a 500.
 */
function asRefusal(err: unknown): unknown {
  if (err instanceof OncelyError) return err;
  const e = err as { status?: unknown; code?: unknown; message?: unknown };
  if (
    typeof e?.status === 'number' &&
    e.status >= 400 &&
    e.status < 500 &&
    typeof e.code === 'string' &&
    /^[a-z][a-z0-9_]*$/.test(e.code)
  ) {
    return new OncelyError(e.status, e.code, typeof e.message === 'string' ? e.message : e.code);
  }
  return err;
}

function checkHooks(hooks: unknown, spec: string): IngestHooks {
  if (typeof hooks !== 'object' || hooks === null)
    throw new PluginError(`plugin ${spec} must export hooks or a factory of hooks`);
  const h = hooks as Record<string, unknown>;
  for (const name of ['beforeCommit', 'afterCommit']) {
    if (h[name] !== undefined && typeof h[name] !== 'function')
      throw new PluginError(`plugin ${spec}: ${name} must be a function`);
  }
  if (!h.beforeCommit && !h.afterCommit)
    throw new PluginError(`plugin ${spec} has neither beforeCommit nor afterCommit`);
  return hooks as IngestHooks;
}

/** Imports and instantiates the plugin named by `spec`. */
export async function loadPlugin(spec: string, ctx: PluginContext): Promise<IngestHooks> {
  let mod: { default?: unknown };
  try {
    mod = (await import(specifier(spec))) as { default?: unknown };
  } catch (err) {
    // The compiled server runs plain Node: a TypeScript plugin must be compiled first (as `npm run build`
    // does for examples/plugins), or oncely run from source (`npm run dev`).
    if ((err as NodeJS.ErrnoException).code === 'ERR_UNKNOWN_FILE_EXTENSION' && /\.[cm]?ts$/.test(spec)) {
      throw new PluginError(
        `ONCELY_PLUGIN ${spec} is TypeScript: compile it to JavaScript (examples/plugins are built into dist/examples/plugins)`,
      );
    }
    throw new PluginError(`ONCELY_PLUGIN ${spec} could not be loaded: ${(err as Error).message}`);
  }
  const exported = mod.default;
  const hooks = checkHooks(
    typeof exported === 'function' ? await (exported as (c: PluginContext) => unknown)(ctx) : exported,
    spec,
  );
  const wrapped: IngestHooks = {};
  if (hooks.beforeCommit) {
    const before = hooks.beforeCommit.bind(hooks);
    wrapped.beforeCommit = async (cmd) => {
      try {
        return await before(cmd);
      } catch (err) {
        throw asRefusal(err);
      }
    };
  }
  if (hooks.afterCommit) wrapped.afterCommit = hooks.afterCommit.bind(hooks);
  ctx.logger.info({ plugin: spec, hooks: Object.keys(wrapped) }, 'plugin loaded');
  return wrapped;
}
