// Webhook endpoints: the contract's answers, bad input refused whole, isolation between apps, the SSRF guard
// at registration and at delivery, and the retry schedule followed on the injected clock.
import { lookup } from 'node:dns/promises';
import { hostname } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../src/clock.js';
import { addressRefusal } from '../src/webhooks/address-guard.js';
import { client, createApp, startServer, tempDir, text, waitFor, type TestServer } from './harness.js';
import { startReceiver, type TestReceiver } from './webhook-receiver.js';

const env = { ONCELY_WEBHOOK_ALLOW_PRIVATE: '1', ONCELY_WEBHOOK_POLL_MS: '20' };
let server: TestServer;
const receivers: TestReceiver[] = [];

beforeAll(async () => {
  server = await startServer(env);
});
afterAll(async () => {
  await server.stop();
  await Promise.all(receivers.map((r) => r.close()));
});

describe('webhook endpoints', () => {
  it('create 201 with the secret once, update 200, get, list, delete', async () => {
    const app = await createApp(server.url);
    const created = await app.api.put('/v1/webhook-endpoints/e1', { url: 'https://example.com/hook' });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      id: 'e1',
      url: 'https://example.com/hook',
      events: null,
      enabled: true,
      ordered: false,
      disabledReason: null,
    });
    const secret = created.body.secret as string;
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]+=*$/);
    expect(created.body.secrets).toEqual([{ hint: `whsec_…${secret.slice(-4)}`, expiresAt: null }]);

    const updated = await app.api.put('/v1/webhook-endpoints/e1', {
      url: 'https://example.com/other',
      events: ['message.created'],
      ordered: true,
    });
    expect(updated.status).toBe(200);
    expect(updated.body).toMatchObject({
      url: 'https://example.com/other',
      events: ['message.created'],
      ordered: true,
    });
    expect(updated.body.secret).toBeUndefined();
    const got = await app.api.get('/v1/webhook-endpoints/e1');
    expect(got.status).toBe(200);
    expect(JSON.stringify(got.body)).not.toContain(secret);
    expect((await app.api.get('/v1/webhook-endpoints')).body.items.map((e: any) => e.id)).toEqual(['e1']);

    const given = `whsec_${Buffer.alloc(24, 7).toString('base64')}`;
    const withSecret = await app.api.put('/v1/webhook-endpoints/e2', {
      url: 'https://example.com/h',
      secret: given,
    });
    expect(withSecret.body.secret).toBe(given);

    expect((await app.api.delete('/v1/webhook-endpoints/e1')).status).toBe(204);
    expect((await app.api.get('/v1/webhook-endpoints/e1')).body.error.code).toBe(
      'webhook_endpoint_not_found',
    );
    expect((await app.api.delete('/v1/webhook-endpoints/e1')).status).toBe(404);
  });

  it('bad input gets a 4xx with a code and changes nothing', async () => {
    const app = await createApp(server.url);
    await app.api.put('/v1/webhook-endpoints/keep', { url: 'https://example.com/a' });
    const cases: Array<[unknown, number, string]> = [
      [{}, 400, 'invalid_request'],
      [{ url: 'not a url' }, 400, 'webhook_url_not_allowed'],
      [{ url: 'ftp://example.com/x' }, 400, 'webhook_url_not_allowed'],
      [{ url: 'https://user:pw@example.com/x' }, 400, 'webhook_url_not_allowed'],
      [{ url: 'https://example.com/b', events: ['message.exploded'] }, 400, 'invalid_request'],
      [{ url: 'https://example.com/b', events: [] }, 400, 'invalid_request'],
      [{ url: 'https://example.com/b', secret: 'plain' }, 400, 'invalid_secret'],
      [{ url: 'https://example.com/b', enabled: 'yes' }, 400, 'invalid_request'],
      [{ url: 'https://example.com/b', extra: 1 }, 400, 'invalid_request'],
    ];
    for (const [body, status, code] of cases) {
      const res = await app.api.put('/v1/webhook-endpoints/keep', body);
      expect([res.status, res.body.error?.code]).toEqual([status, code]);
    }
    const kept = await app.api.get('/v1/webhook-endpoints/keep');
    expect(kept.body).toMatchObject({ url: 'https://example.com/a', events: null, enabled: true });
    expect(
      (await app.api.put('/v1/webhook-endpoints/bad%20id', { url: 'https://example.com/a' })).status,
    ).toBe(400);
    expect(
      (await app.api.post('/v1/webhook-endpoints/keep/replay', { since: 'yesterday' })).body.error.code,
    ).toBe('invalid_since');
    expect((await app.api.post('/v1/webhook-endpoints/keep/replay', {})).status).toBe(400);
    expect((await app.api.get('/v1/webhook-endpoints/keep/deliveries?state=lost')).status).toBe(400);
    expect(
      (await app.api.post('/v1/webhook-endpoints/keep/rotate-secret', { secret: 'x' })).body.error.code,
    ).toBe('invalid_secret');
    expect((await app.api.post('/v1/webhook-deliveries/nope/retry')).status).toBe(404);
    expect(
      (await client(server.url).put('/v1/webhook-endpoints/x', { url: 'https://example.com' })).status,
    ).toBe(401);
  });

  it("another app's endpoints and deliveries are 404", async () => {
    const a = await createApp(server.url);
    const b = await createApp(server.url);
    const receiver = await startReceiver();
    receivers.push(receiver);
    const put = await a.api.put('/v1/webhook-endpoints/mine', { url: receiver.url });
    receiver.secrets.push(put.body.secret);
    const conv = await a.group(['alice', 'bob']);
    await a.api.post(`/v1/conversations/${conv}/messages`, { from: 'alice', body: text('hi') });
    await waitFor(() => receiver.unique.size === 1);
    const delivery = (await a.api.get('/v1/webhook-endpoints/mine/deliveries')).body.items[0];
    for (const res of [
      await b.api.get('/v1/webhook-endpoints/mine'),
      await b.api.get('/v1/webhook-endpoints/mine/deliveries'),
      await b.api.post('/v1/webhook-endpoints/mine/rotate-secret'),
      await b.api.post('/v1/webhook-endpoints/mine/replay', { since: 0 }),
      await b.api.delete('/v1/webhook-endpoints/mine'),
      await b.api.post(`/v1/webhook-deliveries/${delivery.id}/retry`),
    ]) {
      expect(res.status).toBe(404);
    }
    expect((await b.api.get('/v1/webhook-endpoints')).body.items).toEqual([]);
    // B's messages never reach A's endpoint.
    const other = await b.group(['alice', 'bob']);
    await b.api.post(`/v1/conversations/${other}/messages`, { from: 'alice', body: text('not for a') });
    await a.api.post(`/v1/conversations/${conv}/messages`, { from: 'alice', body: text('for a') });
    await waitFor(() => receiver.unique.size === 2);
    expect([...receiver.unique.values()].map((r) => r.payload.data.body.text)).toEqual(['hi', 'for a']);
  });
});

describe('SSRF guard', () => {
  it('refuses loopback, private and link-local receivers at registration', async () => {
    const strict = await startServer();
    try {
      const app = await createApp(strict.url);
      for (const url of [
        'http://127.0.0.1:9/x',
        'http://[::1]/x',
        'http://10.0.0.8/x',
        'http://192.168.1.1/x',
        'http://169.254.169.254/latest/meta-data',
        'http://[::ffff:127.0.0.1]/x',
        'http://[fd00::1]/x',
        'http://0.0.0.0/x',
        'http://localhost:8080/x',
        'http://api.localhost/x',
      ]) {
        const res = await app.api.put('/v1/webhook-endpoints/e', { url });
        expect([url, res.status, res.body.error?.code]).toEqual([url, 400, 'webhook_url_not_allowed']);
      }
      expect((await app.api.get('/v1/webhook-endpoints')).body.items).toEqual([]);
    } finally {
      await strict.stop();
    }
  });

  it('refuses at delivery a name that resolves to loopback, and never calls it', async () => {
    const receiver = await startReceiver();
    receivers.push(receiver);
    const dir = tempDir();
    // Registered while private receivers were allowed; the same database then runs without that.
    const lenient = await startServer(env, { dir });
    const app = await createApp(lenient.url);
    // The machine's own name resolves to one of its addresses, loopback or private: only DNS can tell.
    const host = hostname();
    const resolved = await lookup(host);
    expect(addressRefusal(resolved.address, false)).toBeDefined();
    const url = `http://${host}:${receiver.port}/hook`;
    expect((await app.api.put('/v1/webhook-endpoints/local', { url })).status).toBe(201);
    await lenient.stop();
    const strict = await startServer(
      { ONCELY_WEBHOOK_POLL_MS: '20', ONCELY_WEBHOOK_RETRY_SCHEDULE: '0' },
      { dir },
    );
    try {
      const api = client(strict.url, app.apiKey);
      await api.put('/v1/users/alice', {});
      const created = await api.post('/v1/conversations', { kind: 'group', members: ['alice'] });
      await api.post(`/v1/conversations/${created.body.id}/messages`, { from: 'alice', body: text('x') });
      let dead: any;
      await waitFor(async () => {
        dead = (await api.get('/v1/webhook-endpoints/local/deliveries?state=failed')).body.items[0];
        return dead !== undefined;
      });
      expect(dead.attempts).toHaveLength(2);
      for (const a of dead.attempts) {
        expect(a.statusCode).toBeNull();
        expect(a.error).toBe(
          `webhook_url_not_allowed: ${host} resolves to ${addressRefusal(resolved.address, false)!.replace(`${resolved.address} is `, '')} (${resolved.address})`,
        );
      }
      expect(receiver.requests).toHaveLength(0);
    } finally {
      await strict.stop();
    }
  });
});

describe('retry schedule', () => {
  it('follows ONCELY_WEBHOOK_RETRY_SCHEDULE on the injected clock, with jitter', async () => {
    const clock = new ManualClock();
    const timed = await startServer({ ...env, ONCELY_WEBHOOK_RETRY_SCHEDULE: '5,60' }, { clock });
    const receiver = await startReceiver();
    receivers.push(receiver);
    try {
      const app = await createApp(timed.url);
      receiver.secrets.push(
        (await app.api.put('/v1/webhook-endpoints/h', { url: receiver.url })).body.secret,
      );
      receiver.behave = () => 'fail';
      const conv = await app.group(['alice', 'bob']);
      await app.api.post(`/v1/conversations/${conv}/messages`, { from: 'alice', body: text('x') });
      const delivery = async () => (await app.api.get('/v1/webhook-endpoints/h/deliveries')).body.items[0];
      await waitFor(async () => (await delivery()).attemptCount === 1);
      const first = await delivery();
      const wait1 = Date.parse(first.nextAttemptAt) - Date.parse(first.attempts[0].at);
      expect(wait1).toBeGreaterThanOrEqual(4000);
      expect(wait1).toBeLessThanOrEqual(6000);
      clock.advance(wait1 + 1);
      await waitFor(async () => (await delivery()).attemptCount === 2);
      const second = await delivery();
      const wait2 = Date.parse(second.nextAttemptAt) - Date.parse(second.attempts[1].at);
      expect(wait2).toBeGreaterThanOrEqual(48_000);
      expect(wait2).toBeLessThanOrEqual(72_000);
      receiver.behave = () => 'ok';
      clock.advance(wait2 + 1);
      await waitFor(async () => (await delivery()).state === 'succeeded');
      expect((await delivery()).attempts.map((a: any) => a.statusCode)).toEqual([500, 500, 204]);
    } finally {
      await timed.stop();
    }
  });
});
