// Secrets at rest: the data directory is its owner's alone (0700, files 0600), and with ONCELY_SECRETS_KEY
// the token signing, webhook and callback secrets are sealed in the database — those stored in clear before
// the key was set too, at the next start — while everything signed with them keeps working.
import { randomBytes } from 'node:crypto';
import { existsSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.js';
import { startOncely, type Oncely } from '../src/main.js';
import { createLogger } from '../src/observability/logger.js';
import {
  adminToken,
  client,
  createApp,
  databaseUrl,
  dropDatabase,
  tempDir,
  testStore,
  waitFor,
} from './harness.js';
import { signedHeaders } from './signed-webhook.js';
import { startReceiver } from './webhook-receiver.js';

const dirs: string[] = [];
afterAll(async () => {
  for (const dir of dirs) {
    await dropDatabase(dir);
    rmSync(dir, { recursive: true, force: true });
  }
});

const key = randomBytes(32).toString('base64');

/** The server on `dataDir`'s database (the same database at every start with the same directory). */
async function start(dataDir: string, env: Record<string, string> = {}): Promise<Oncely> {
  const config = loadConfig({
    ONCELY_HOST: '127.0.0.1',
    ONCELY_PORT: '0',
    ONCELY_DATA_DIR: dataDir,
    ONCELY_DATABASE_URL: await databaseUrl(dataDir),
    ONCELY_ADMIN_TOKEN: adminToken,
    ONCELY_LOG_LEVEL: 'silent',
    ONCELY_WEBHOOK_ALLOW_PRIVATE: 'true',
    ...env,
  });
  return startOncely(config, { logger: createLogger('silent') });
}

const mode = (path: string) => statSync(path).mode & 0o777;

/** Every stored value of the secret columns, as the database holds them. */
async function storedSecrets(oncely: Oncely): Promise<string[]> {
  const { rows } = await sql<{ value: string }>`
    select token_secret as value from apps
    union all select secrets from callback_sources
    union all select secrets from webhook_endpoints`.execute(oncely.services.store.db);
  return rows.map((r) => r.value);
}

const callbackBody = (msgId: string) =>
  JSON.stringify({ msgId, from: 'ext_a', to: 'ext_b', timestamp: Date.now(), content: 'hi' });

describe('the data directory', () => {
  it('is made 0700, and the admin token and the database files in it 0600', async () => {
    const parent = tempDir('oncely-modes-');
    dirs.push(parent);
    const dataDir = join(parent, 'data');
    const oncely = await start(dataDir, { ONCELY_ADMIN_TOKEN: '' });
    try {
      expect(mode(dataDir)).toBe(0o700);
      expect(mode(join(dataDir, 'admin-token'))).toBe(0o600);
      if (testStore === 'sqlite') {
        for (const file of ['oncely.db', 'oncely.db-wal', 'oncely.db-shm']) {
          if (existsSync(join(dataDir, file)))
            expect([file, mode(join(dataDir, file))]).toEqual([file, 0o600]);
        }
        const copy = join(parent, 'backup.db');
        await oncely.services.store.backup!(copy);
        expect(mode(copy)).toBe(0o600);
      }
    } finally {
      await oncely.close();
    }
  });
});

describe('ONCELY_SECRETS_KEY', () => {
  it('must be 32 bytes, as base64 or hex', () => {
    for (const bad of ['short', randomBytes(16).toString('base64'), 'z'.repeat(64)]) {
      expect(() => loadConfig({ ONCELY_SECRETS_KEY: bad })).toThrow(ConfigError);
    }
    expect(loadConfig({ ONCELY_SECRETS_KEY: randomBytes(32).toString('hex') }).secretsKey).toHaveLength(32);
    expect(loadConfig({ ONCELY_SECRETS_KEY: key }).secretsKey).toHaveLength(32);
  });

  it('seals new secrets: none is in the database in clear, and tokens and signatures still work', async () => {
    const dataDir = tempDir('oncely-sealed-');
    dirs.push(dataDir);
    const oncely = await start(dataDir, { ONCELY_SECRETS_KEY: key });
    const receiver = await startReceiver();
    try {
      const app = await createApp(oncely.url);
      const alice = await app.user('alice');
      expect((await alice.get('/v1/me')).status).toBe(200);
      const sourceSecret = `whsec_${randomBytes(24).toString('base64')}`;
      await app.api.put('/v1/callback-sources/crm', { format: 'generic', secret: sourceSecret });
      const endpoint = await app.api.put('/v1/webhook-endpoints/hook', { url: receiver.url });
      expect(endpoint.status).toBe(201);
      const rotated = await app.api.post('/v1/webhook-endpoints/hook/rotate-secret', {});
      expect(rotated.status).toBe(200);

      const stored = await storedSecrets(oncely);
      expect(stored.length).toBeGreaterThanOrEqual(3);
      for (const value of stored) expect(value).toMatch(/^sealed:v1:/);
      const secretOfApp = await oncely.services.apps.tokenSecret(app.appId);
      for (const plain of [secretOfApp!, sourceSecret, endpoint.body.secret, rotated.body.secret]) {
        expect(stored.join('\n')).not.toContain(plain);
      }
      // Both webhook secrets are still there to sign (the rotated one for its overlap).
      expect((await app.api.get('/v1/webhook-endpoints/hook')).body.secrets).toHaveLength(2);
      receiver.secrets.push(endpoint.body.secret, rotated.body.secret);
      const body = callbackBody('sealed-1');
      const res = await client(oncely.url).post(
        `/v1/apps/${app.appId}/callbacks/crm`,
        body,
        signedHeaders(sourceSecret, body),
      );
      expect(res.status).toBe(200);
      // The callback's message went out as a webhook, signed with the sealed secrets: both verify it.
      await waitFor(() => receiver.requests.length > 0);
      expect(receiver.unverified).toBe(0);
      expect(receiver.requests[0]!.verifiedBy).toEqual([0, 1]);
    } finally {
      await oncely.close();
      await receiver.close();
    }
  });

  it('seals secrets stored in clear at the next start with a key; without the key the server refuses to start', async () => {
    const dataDir = tempDir('oncely-reseal-');
    dirs.push(dataDir);
    const sourceSecret = `whsec_${randomBytes(24).toString('base64')}`;
    let before = await start(dataDir);
    const app = await createApp(before.url);
    const alice = await app.user('alice');
    await app.api.put('/v1/callback-sources/crm', { format: 'generic', secret: sourceSecret });
    expect((await storedSecrets(before)).some((v) => v.startsWith('sealed:'))).toBe(false);
    await before.close();

    const sealed = await start(dataDir, { ONCELY_SECRETS_KEY: key });
    try {
      for (const value of await storedSecrets(sealed)) expect(value).toMatch(/^sealed:v1:/);
      // The token signed before the key was set is still valid: the secret is the same, only sealed.
      expect((await client(sealed.url, alice.token).get('/v1/me')).status).toBe(200);
      const body = callbackBody('resealed-1');
      const res = await client(sealed.url).post(
        `/v1/apps/${app.appId}/callbacks/crm`,
        body,
        signedHeaders(sourceSecret, body),
      );
      expect(res.status).toBe(200);
    } finally {
      await sealed.close();
    }

    await expect(start(dataDir)).rejects.toThrow(/ONCELY_SECRETS_KEY/);
    await expect(start(dataDir, { ONCELY_SECRETS_KEY: randomBytes(32).toString('base64') })).rejects.toThrow(
      /another key/,
    );
    before = await start(dataDir, { ONCELY_SECRETS_KEY: key });
    await before.close();
  });
});
