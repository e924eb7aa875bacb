// The `oncely` command: `serve` (what `npm start` runs) and `migrate`.
import { ConfigError, loadConfig } from './config.js';
import { createStore, startOncely } from './main.js';

async function serve(): Promise<void> {
  const config = loadConfig();
  const oncely = await startOncely(config);
  const { logger } = oncely.services;
  if (oncely.generatedAdminToken) {
    // Printed once, on purpose, to the terminal only (never through the logger).
    process.stdout.write(
      `\noncely: generated an admin token (kept in ${config.dataDir}/admin-token):\n  ${oncely.generatedAdminToken}\n\n`,
    );
  }
  logger.info({ url: oncely.url, database: config.databaseUrl.replace(/\/\/[^@]*@/, '//***@') }, 'oncely listening');
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    oncely.close().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

async function migrate(): Promise<void> {
  const store = createStore(loadConfig());
  const applied = await store.migrate();
  await store.close();
  process.stdout.write(applied.length ? `applied: ${applied.join(', ')}\n` : 'schema is up to date\n');
}

const commands: Record<string, () => Promise<void>> = { serve, migrate };
const name = process.argv[2] ?? 'serve';
const command = commands[name];
if (!command) {
  process.stderr.write(`usage: oncely <serve|migrate>\n`);
  process.exit(2);
}
command().catch((err: unknown) => {
  process.stderr.write(`oncely ${name}: ${err instanceof ConfigError ? err.message : (err as Error).stack}\n`);
  process.exit(1);
});
