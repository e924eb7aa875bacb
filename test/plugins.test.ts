import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { startOncely } from '../src/main.js';
import { createLogger } from '../src/observability/logger.js';
import {
  client,
  createApp,
  repoRoot,
  startServer,
  tempDir,
  text,
  type TestApp,
  type TestServer,
} from './harness.js';
import { signedHeaders } from './signed-webhook.js';
import { committed } from './plugins-fixture.js';

describe('plugin hooks', () => {
  let server: TestServer;
  let app: TestApp;
  beforeAll(async () => {
    server = await startServer({ ONCELY_PLUGIN: join(repoRoot, 'test/plugins-fixture.ts') });
    app = await createApp(server.url);
  });
  afterAll(() => server.stop());

  const mine = (conv: string) => committed.filter((e) => e.conversationId === conv);

  it('afterCommit runs exactly once per message under duplicate storms of REST, batch and callbacks', async () => {
    const conv = await app.group(['alice', 'bob']);
    // REST: one key sent 20 times at once.
    await Promise.all(
      Array.from({ length: 20 }, () =>
        app.api.post(
          `/v1/conversations/${conv}/messages`,
          { from: 'alice', body: text('rest') },
          { 'idempotency-key': 'storm' },
        ),
      ),
    );
    // Batch: the same 50 items three times at once, each also repeating its first 10 keys.
    const keys = Array.from({ length: 50 }, (_, i) => `b-${i}`);
    const items = [...keys, ...keys.slice(0, 10)].map((k) => ({
      idempotencyKey: k,
      from: 'alice',
      conversationId: conv,
      body: text(k),
    }));
    await Promise.all([1, 2, 3].map(() => app.api.post('/v1/messages/batch', { items })));
    // Callbacks: 5 msgIds, each delivered 20 times in parallel.
    const secret = `whsec_${randomBytes(24).toString('base64')}`;
    await app.api.put('/v1/callback-sources/storm', { format: 'generic', secret });
    await Promise.all(
      Array.from({ length: 5 }, (_, m) => {
        const body = JSON.stringify({
          msgId: `cb-${m}`,
          from: 'alice',
          to: 'bob',
          conversationId: conv,
          content: `cb ${m}`,
        });
        const headers = signedHeaders(secret, body, { id: `w${m}` });
        return Promise.all(
          Array.from({ length: 20 }, () =>
            client(server.url).post(`/v1/apps/${app.appId}/callbacks/storm`, body, headers),
          ),
        );
      }),
    );
    const history = await app.api.get(`/v1/conversations/${conv}/messages?limit=1000`);
    expect(history.body.items).toHaveLength(1 + 50 + 5);
    const calls = mine(conv);
    expect(calls).toHaveLength(56);
    expect(new Set(calls.map((e) => e.id))).toEqual(
      new Set(history.body.items.map((e: { id: string }) => e.id)),
    );
  });

  it('beforeCommit refuses a message with its own code and nothing is stored, in every entry point', async () => {
    const conv = await app.group(['alice', 'bob']);
    const rest = await app.api.post(`/v1/conversations/${conv}/messages`, {
      from: 'alice',
      body: text('refuse: me'),
    });
    expect(rest.status).toBe(422);
    expect(rest.body.error.code).toBe('refused_by_plugin');
    const batch = await app.api.post('/v1/messages/batch', {
      items: [
        { idempotencyKey: 'x-1', from: 'alice', conversationId: conv, body: text('refuse: me too') },
        { idempotencyKey: 'x-2', from: 'alice', conversationId: conv, body: text('fine') },
      ],
    });
    expect(batch.body.results.map((r: { status: string }) => r.status)).toEqual(['failed', 'created']);
    expect(batch.body.results[0].error.code).toBe('refused_by_plugin');
    await app.api.put('/v1/callback-sources/open', { format: 'generic' });
    const body = JSON.stringify({
      msgId: 'r-1',
      from: 'alice',
      to: 'bob',
      conversationId: conv,
      content: 'refuse: callback',
    });
    const cb = await client(server.url).post(`/v1/apps/${app.appId}/callbacks/open`, body, {
      'content-type': 'application/json',
    });
    expect(cb.status).toBe(422);
    const rejections = await app.api.get('/v1/callback-sources/open/rejections');
    expect(rejections.body.items[0]).toMatchObject({ reason: 'refused_by_plugin', msgId: 'r-1' });
    const history = await app.api.get(`/v1/conversations/${conv}/messages`);
    expect(history.body.items.map((e: { body: { text: string } }) => e.body.text)).toEqual(['fine']);
    // A refused key was never claimed: the same key with acceptable content goes through.
    const retry = await app.api.post('/v1/messages/batch', {
      items: [{ idempotencyKey: 'x-1', from: 'alice', conversationId: conv, body: text('better') }],
    });
    expect(retry.body.results[0].status).toBe('created');
  });

  it('beforeCommit may enrich the body that is stored', async () => {
    const conv = await app.group(['alice', 'bob']);
    const res = await app.api.post(`/v1/conversations/${conv}/messages`, {
      from: 'alice',
      body: text('upper: hello'),
    });
    expect(res.status).toBe(201);
    const message = await app.api.get(`/v1/messages/${res.body.id}`);
    expect(message.body.body.text).toBe('UPPER: HELLO');
  });
});

describe('the keyword filter example plugin', () => {
  let server: TestServer;
  let app: TestApp;
  beforeAll(async () => {
    process.env.ONCELY_KEYWORD_FILTER_WORDS = 'spam, Scam';
    server = await startServer({ ONCELY_PLUGIN: './examples/plugins/keyword-filter.ts' });
    app = await createApp(server.url);
  });
  afterAll(async () => {
    delete process.env.ONCELY_KEYWORD_FILTER_WORDS;
    await server.stop();
  });

  it('refuses a message with a blocked word (any case) with 422 message_refused and stores nothing', async () => {
    const conv = await app.group(['alice', 'bob']);
    const bad = await app.api.post(`/v1/conversations/${conv}/messages`, {
      from: 'alice',
      body: text('this is a SCAM!'),
    });
    expect(bad.status).toBe(422);
    expect(bad.body.error.code).toBe('message_refused');
    const good = await app.api.post(`/v1/conversations/${conv}/messages`, {
      from: 'alice',
      body: text('scampi for dinner'),
    });
    expect(good.status).toBe(201);
    const history = await app.api.get(`/v1/conversations/${conv}/messages`);
    expect(history.body.items.map((e: { body: { text: string } }) => e.body.text)).toEqual([
      'scampi for dinner',
    ]);
  });
});

describe('plugin loading', () => {
  it('a plugin that cannot be loaded stops the start with a message naming it', async () => {
    const dir = tempDir();
    const config = loadConfig({
      ONCELY_PORT: '0',
      ONCELY_DATA_DIR: dir,
      ONCELY_DATABASE_URL: `sqlite:${join(dir, 'oncely.db')}`,
      ONCELY_ADMIN_TOKEN: 'x'.repeat(32),
      ONCELY_PLUGIN: './no/such/plugin.js',
    });
    await expect(startOncely(config, { logger: createLogger('silent') })).rejects.toThrow(
      /ONCELY_PLUGIN \.\/no\/such\/plugin\.js/,
    );
  });
});
