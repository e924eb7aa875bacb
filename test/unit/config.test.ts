import { describe, expect, it } from 'vitest';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig } from '../../src/config.js';

describe('config', () => {
  it('has the documented defaults', () => {
    const c = loadConfig({});
    expect(c).toMatchObject({
      host: '127.0.0.1',
      port: 8080,
      databaseUrl: 'sqlite:./data/oncely.db',
      adminToken: undefined,
      durability: 'full',
      idempotencyTtlSeconds: 604800,
      recallWindowSeconds: 120,
      batchMaxItems: 1000,
    });
  });

  it('reads numbers, choices and empty values', () => {
    const c = loadConfig({
      ONCELY_PORT: '0',
      ONCELY_DURABILITY: 'normal',
      ONCELY_ADMIN_TOKEN: '',
      ONCELY_RECALL_WINDOW_SECONDS: '0',
    });
    expect(c).toMatchObject({ port: 0, durability: 'normal', adminToken: undefined, recallWindowSeconds: 0 });
  });

  it.each([
    ['ONCELY_PORT', 'eighty'],
    ['ONCELY_PORT', '70000'],
    ['ONCELY_PORT', '80.5'],
    ['ONCELY_IDEMPOTENCY_TTL_SECONDS', '0'],
    ['ONCELY_DURABILITY', 'sometimes'],
    ['ONCELY_DATABASE_URL', 'mysql://x'],
    ['ONCELY_BODY_LIMIT_BYTES', '10'],
    ['ONCELY_DEMO', 'maybe'],
  ])('refuses %s=%s with a message naming the variable', (name, value) => {
    expect(() => loadConfig({ [name]: value })).toThrow(ConfigError);
    expect(() => loadConfig({ [name]: value })).toThrow(name);
  });

  it('batches presence for two seconds, or an eighth of a short heartbeat; never more than a quarter of it', () => {
    expect(loadConfig({}).presenceBatchMs).toBe(2000);
    expect(loadConfig({ ONCELY_WS_HEARTBEAT_MS: '2000' }).presenceBatchMs).toBe(250);
    expect(loadConfig({ ONCELY_PRESENCE_BATCH_MS: '0' }).presenceBatchMs).toBe(0);
    expect(() => loadConfig({ ONCELY_WS_HEARTBEAT_MS: '2000', ONCELY_PRESENCE_BATCH_MS: '600' })).toThrow(
      /ONCELY_PRESENCE_BATCH_MS must be an integer between 0 and 500/,
    );
  });

  it('an unknown database URL scheme lists the supported ones and never echoes the password', () => {
    expect(() => loadConfig({ ONCELY_DATABASE_URL: 'mysql://root:hunter2@db/x' })).toThrow(
      /unsupported scheme "mysql:"; supported: sqlite:.*postgres:\/\//,
    );
    expect(() => loadConfig({ ONCELY_DATABASE_URL: 'mysql://root:hunter2@db/x' })).not.toThrow(/hunter2/);
  });

  it('refuses a Redis bus over SQLite, saying several instances need PostgreSQL', () => {
    expect(() => loadConfig({ ONCELY_REDIS_URL: 'redis://127.0.0.1:6379' })).toThrow(
      /ONCELY_REDIS_URL.*SQLite.*several instances need PostgreSQL/,
    );
    const c = loadConfig({
      ONCELY_REDIS_URL: 'redis://127.0.0.1:6379',
      ONCELY_DATABASE_URL: 'postgres://u:p@127.0.0.1:5432/db',
    });
    expect(c.redisUrl).toBe('redis://127.0.0.1:6379');
    expect(() =>
      loadConfig({ ONCELY_REDIS_URL: 'http://:hunter2@x', ONCELY_DATABASE_URL: 'postgres://u@h/d' }),
    ).toThrow(/^ONCELY_REDIS_URL: must start with redis:\/\/ or rediss:\/\/$/);
  });

  it('takes a config file under the environment, which wins', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'oncely-config-')), 'config.json');
    writeFileSync(file, JSON.stringify({ ONCELY_PORT: 9000, ONCELY_RECALL_WINDOW_SECONDS: 30 }));
    const c = loadConfig({ ONCELY_CONFIG_FILE: file, ONCELY_PORT: '9100' });
    expect(c.port).toBe(9100);
    expect(c.recallWindowSeconds).toBe(30);
  });

  it('refuses a missing or malformed config file', () => {
    expect(() => loadConfig({ ONCELY_CONFIG_FILE: '/nonexistent/oncely.json' })).toThrow(
      /ONCELY_CONFIG_FILE/,
    );
    const file = join(mkdtempSync(join(tmpdir(), 'oncely-config-')), 'config.json');
    writeFileSync(file, '{not json');
    expect(() => loadConfig({ ONCELY_CONFIG_FILE: file })).toThrow(/not valid JSON/);
  });

  it('reads no variable that README "Configuration" leaves out', () => {
    const src = new URL('../../src/', import.meta.url);
    const read = new Set<string>();
    for (const file of readdirSync(src, { recursive: true, encoding: 'utf8' }))
      if (file.endsWith('.ts'))
        for (const [name] of readFileSync(new URL(file, src), 'utf8').matchAll(
          /\bONCELY_[A-Z0-9_]*[A-Z0-9]\b/g,
        ))
          read.add(name);
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const section = readme.slice(
      readme.indexOf('## Configuration'),
      readme.indexOf('\n## ', readme.indexOf('## Configuration') + 1),
    );
    expect(read.size).toBeGreaterThan(40);
    expect([...read].filter((name) => !section.includes(`\`${name}\``)).sort()).toEqual([]);
  });
});
