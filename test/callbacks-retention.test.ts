// Callback records after the retention window, source secret validation, and logs that never carry a secret.
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../src/clock.js';
import { loadConfig } from '../src/config.js';
import { startOncely, type Oncely } from '../src/main.js';
import { createLogger } from '../src/observability/logger.js';
import { adminToken, client, createApp, databaseUrl, tempDir, type TestApp } from './harness.js';
import { signedHeaders } from './signed-webhook.js';

const lines: string[] = [];
const sink = new Writable({
  write(chunk: Buffer, _enc, done) {
    lines.push(...chunk.toString().split('\n').filter(Boolean));
    done();
  },
});
const dir = tempDir('oncely-callbacks-');
const clock = new ManualClock();
let oncely: Oncely;
let app: TestApp;
const secret = `whsec_${randomBytes(24).toString('base64')}`;

const post = (body: string, headers: Record<string, string>) =>
  client(oncely.url).post(`/v1/apps/${app.appId}/callbacks/kept`, body, headers);

beforeAll(async () => {
  const config = loadConfig({
    ONCELY_PORT: '0',
    ONCELY_DATA_DIR: dir,
    ONCELY_DATABASE_URL: await databaseUrl(dir),
    ONCELY_ADMIN_TOKEN: adminToken,
    ONCELY_IDEMPOTENCY_TTL_SECONDS: '60',
    ONCELY_LOG_LEVEL: 'debug',
  });
  oncely = await startOncely(config, { clock, logger: createLogger('debug', sink) });
  app = await createApp(oncely.url);
  expect((await app.api.put('/v1/callback-sources/kept', { format: 'generic', secret })).status).toBe(201);
});
afterAll(async () => {
  await oncely.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('callback retention', () => {
  it('a msgId record is 404 after the retention window, and the same callback then creates a new message', async () => {
    const body = JSON.stringify({
      msgId: 'ttl-1',
      from: 'ann',
      to: 'ben',
      timestamp: Date.now(),
      content: 'hello',
    });
    const first = await post(body, signedHeaders(secret, body));
    expect(first.body.status).toBe('ok');
    expect((await post(body, signedHeaders(secret, body))).body.reason).toBe('duplicate');
    expect((await app.api.get('/v1/idempotency-keys/ttl-1?scope=source:kept')).status).toBe(200);
    clock.advance(61_000);
    expect((await app.api.get('/v1/idempotency-keys/ttl-1?scope=source:kept')).status).toBe(404);
    const again = await post(body, signedHeaders(secret, body));
    expect(again.body.status).toBe('ok');
    expect(again.body.messageId).not.toBe(first.body.messageId);
  });
});

describe('callback sources', () => {
  it('a secret that is not whsec_<base64> of at least 16 bytes is 400 invalid_secret and changes nothing', async () => {
    for (const bad of [
      'plain-text',
      'whsec_',
      `whsec_${randomBytes(8).toString('base64')}`,
      ['ok', secret],
    ]) {
      const res = await app.api.put('/v1/callback-sources/kept', { format: 'generic', secret: bad });
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe('invalid_secret');
    }
    const view = await app.api.get('/v1/callback-sources/kept');
    expect(view.body.secrets).toEqual([{ hint: `whsec_…${secret.slice(-4)}` }]);
  });

  it('no log line carries a source secret, a signature or a callback body', async () => {
    const body = JSON.stringify({ msgId: 'log-1', from: 'ann', to: 'ben', content: 'private words' });
    const headers = signedHeaders(secret, body);
    await post(body, headers);
    await post(body.replace('private', 'other'), headers);
    await post(
      JSON.stringify({ msgId: 'log-1', from: 'ann', to: 'ben', content: 'changed words' }),
      signedHeaders(secret, 'x'),
    );
    await app.api.put('/v1/callback-sources/kept', {
      format: 'generic',
      secret: [secret, `whsec_${randomBytes(24).toString('base64')}`],
    });
    const conflict = JSON.stringify({ msgId: 'log-1', from: 'ann', to: 'ben', content: 'conflicting words' });
    expect((await post(conflict, signedHeaders(secret, conflict))).body.conflict).toBe(true);
    const all = lines.join('\n');
    expect(all).toContain('callback msgId reused with another payload');
    for (const leak of [
      secret.slice(6),
      headers['webhook-signature']!.slice(3),
      'private words',
      'conflicting words',
    ]) {
      expect(all).not.toContain(leak);
    }
  });
});
