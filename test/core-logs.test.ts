// Logs: one line per request with a request id, and no secret ever in them — not the admin token, not an
// API key, not a user token, also when a token rides in the URL.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rmSync } from 'node:fs';
import { Writable } from 'node:stream';
import { loadConfig } from '../src/config.js';
import { startOncely, type Oncely } from '../src/main.js';
import { createLogger } from '../src/observability/logger.js';
import { adminToken, client, databaseUrl, tempDir, text, waitFor } from './harness.js';

const lines: string[] = [];
const sink = new Writable({
  write(chunk: Buffer, _enc, done) {
    lines.push(...chunk.toString().split('\n').filter(Boolean));
    done();
  },
});
const dir = tempDir('oncely-logs-');
let oncely: Oncely;

beforeAll(async () => {
  const config = loadConfig({
    ONCELY_PORT: '0',
    ONCELY_DATA_DIR: dir,
    ONCELY_DATABASE_URL: await databaseUrl(dir),
    ONCELY_ADMIN_TOKEN: adminToken,
    ONCELY_LOG_LEVEL: 'info',
  });
  oncely = await startOncely(config, { logger: createLogger('info', sink) });
});
afterAll(async () => {
  await oncely.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('logs', () => {
  it('carry one line per request with a request id and never a token, key or secret', async () => {
    const url = oncely.url;
    const statuses: number[] = [];
    const track = async <T extends { status: number }>(p: Promise<T>) => {
      const res = await p;
      statuses.push(res.status);
      return res;
    };
    const app = await track(client(url, adminToken).post('/v1/apps', { name: 'logged' }));
    const apiKey = app.body.apiKey as string;
    const api = client(url, apiKey);
    await track(api.put('/v1/users/alice', {}));
    await track(api.put('/v1/users/bob', {}));
    const token = (await track(api.post('/v1/users/alice/tokens', { ttlSeconds: 600 }))).body.token as string;
    const conv = (await track(api.post('/v1/conversations', { kind: 'group', members: ['alice', 'bob'] })))
      .body.id;
    const alice = client(url, token);
    await track(
      alice.post(`/v1/conversations/${conv}/messages`, { body: text('hello') }, { 'idempotency-key': 'k' }),
    );
    await track(alice.get(`/v1/me/conversations?token=${token}`));
    // A token only in the URL (as WebSocket clients send it), and a wrong admin token.
    await track(client(url).get(`/v1/me/conversations?token=${encodeURIComponent(token)}&x=1`));
    // The SSE token with its name percent-encoded: read as `token` (the cursor, not the token, is refused),
    // so it is redacted as `token`.
    const encoded = await track(client(url).get(`/v1/events?%74oken=${token}&cursor=nope`));
    expect(encoded.body.error.code).toBe('invalid_cursor');
    await track(client(url, `${adminToken}-wrong`).post('/v1/apps', { name: 'nope' }));
    await track(client(url, apiKey).get('/metrics'));

    // The request line is written once the answer has gone out: wait for the last one.
    const requestLinesSoFar = () => lines.filter((l) => l.includes('"msg":"request"')).length;
    await waitFor(() => requestLinesSoFar() >= statuses.length);

    const secrets = [adminToken, apiKey, token, token.split('.')[2]!, apiKey.slice(4)];
    const all = lines.join('\n');
    for (const secret of secrets) expect(all).not.toContain(secret);

    const requestLines = lines
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((l) => l.msg === 'request');
    expect(requestLines).toHaveLength(statuses.length);
    expect(requestLines.map((l) => l.statusCode)).toEqual(statuses);
    const ids = requestLines.map((l) => l.reqId);
    expect(ids.every((id) => typeof id === 'string' && id.length > 0)).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
    // The URL stays useful: the path is there, the token is replaced.
    expect(
      requestLines.some((l) => String(l.url).includes('/v1/me/conversations?token=[REDACTED]&x=1')),
    ).toBe(true);
  });
});
