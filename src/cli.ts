// The `oncely` command: `serve` (what `npm start` runs), `migrate`, and `backup <file>`.
import { existsSync } from 'node:fs';
import { ConfigError, loadConfig, type Config } from './config.js';
import { seedDemo } from './demo/demo-seed.js';
import { createStore, startOncely, type Oncely } from './main.js';
import { PluginError } from './plugins/load-plugin.js';
import { renewEpoch } from './store/store-epoch.js';

async function serve(): Promise<void> {
  // `serve --demo` (what `npm start` runs) turns demo mode on unless ONCELY_DEMO says otherwise.
  const demoByDefault = process.argv.includes('--demo') && !process.env.ONCELY_DEMO;
  const config = loadConfig(demoByDefault ? { ...process.env, ONCELY_DEMO: '1' } : process.env);
  const oncely = await startOncely(config);
  const { logger } = oncely.services;
  if (config.demo) await printDemoSignIns(config, oncely);
  if (oncely.generatedAdminToken) {
    // Printed once, on purpose, to the terminal only (never through the logger).
    process.stdout.write(
      `\noncely: generated an admin token (kept in ${config.dataDir}/admin-token):\n  ${oncely.generatedAdminToken}\n\n`,
    );
  }
  logger.info(
    { url: oncely.url, database: config.databaseUrl.replace(/\/\/[^@]*@/, '//***@') },
    'oncely listening',
  );
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

/** Demo mode seeds the embedded store only: a shared PostgreSQL database is never given demo users. */
async function printDemoSignIns(config: Config, oncely: Oncely): Promise<void> {
  const { logger, apps, conversations, userTokens } = oncely.services;
  if (!config.databaseUrl.startsWith('sqlite:')) {
    logger.warn('ONCELY_DEMO applies to the embedded SQLite store only: no demo data was created');
    return;
  }
  const demo = await seedDemo(
    { apps, conversations, userTokens, dataDir: config.dataDir },
    { baseUrl: oncely.url, tokenTtlSeconds: Math.min(7 * 86400, config.userTokenMaxTtlSeconds) },
  );
  // Sign-in links and the API key are credentials: printed to the terminal only, never through the logger.
  const lines = demo.signIns.map((s) => `  ${s.userId.padEnd(6)} ${s.link}`);
  const apiKey = demo.apiKey
    ? `the demo app's API key (shown once; kept in ${config.dataDir}/demo-api-key):\n  ${demo.apiKey}`
    : `the demo app's API key is in ${config.dataDir}/demo-api-key (shown when the demo was created)`;
  process.stdout.write(
    `\noncely demo mode (ONCELY_DEMO=0 turns it off): open the chat as\n${lines.join('\n')}\n` +
      `${apiKey}\n  e.g. curl -H "authorization: Bearer <key>" ${oncely.url}/v1/users/alice\n\n`,
  );
}

async function migrate(): Promise<void> {
  const store = createStore(loadConfig());
  const applied = await store.migrate();
  await store.close();
  process.stdout.write(applied.length ? `applied: ${applied.join(', ')}\n` : 'schema is up to date\n');
}

/** `oncely backup <file>`: a consistent copy of the embedded database, safe while the server runs. */
async function backup(): Promise<void> {
  const destination = process.argv[3];
  if (!destination)
    throw new ConfigError('usage: oncely backup <file> (a new file: the copy of the database)');
  if (existsSync(destination)) throw new ConfigError(`${destination} exists: name a new file for the backup`);
  const store = createStore(loadConfig());
  try {
    if (!store.backup) {
      throw new ConfigError(
        'this database is backed up with its own tools (PostgreSQL: pg_dump), not oncely backup',
      );
    }
    await store.backup(destination);
  } finally {
    await store.close();
  }
  // Restoring the copy turns the stream back to this moment: the copy gets its own epoch, so the cursors
  // devices hold from later (or from before) are refused and they start over, instead of skipping events.
  const copy = createStore({ ...loadConfig(), databaseUrl: `sqlite:${destination}` });
  try {
    await renewEpoch(copy.db);
  } finally {
    await copy.close();
  }
  process.stdout.write(`backed up to ${destination}\n`);
}

/** `oncely renew-epoch`: after restoring a database with its own tools (pg_restore), before starting. */
async function renewEpochCommand(): Promise<void> {
  const store = createStore(loadConfig());
  try {
    await store.migrate();
    await renewEpoch(store.db);
  } finally {
    await store.close();
  }
  process.stdout.write('new store epoch: cursors issued before are refused (devices start over)\n');
}

const commands: Record<string, () => Promise<void>> = {
  serve,
  migrate,
  backup,
  'renew-epoch': renewEpochCommand,
};
const name = process.argv[2] ?? 'serve';
const command = commands[name];
if (!command) {
  process.stderr.write(`usage: oncely <serve|migrate|backup <file>|renew-epoch>\n`);
  process.exit(2);
}
command().catch((err: unknown) => {
  process.stderr.write(`${failureLine(name, err)}\n`);
  process.exit(1);
});

/**
 * A failed start is one line an operator can act on: a setting's own message, or the error's message with a
 * hint; the stack only when asked for (ONCELY_LOG_LEVEL=debug), since it is for oncely's developers.
 */
function failureLine(command: string, err: unknown): string {
  if (err instanceof ConfigError || err instanceof PluginError) return `oncely ${command}: ${err.message}`;
  const message = err instanceof Error ? err.message.split('\n')[0] : String(err);
  if (['debug', 'trace'].includes(process.env.ONCELY_LOG_LEVEL ?? ''))
    return `oncely ${command}: ${(err as Error).stack ?? message}`;
  return `oncely ${command}: ${message} (ONCELY_LOG_LEVEL=debug prints the stack)`;
}
