// No webhook is lost to a crash: the server is killed with SIGKILL while its deliveries are in flight (and
// more wait in the outbox), restarted on the same database, and the receiver ends with every event.
import { rmSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { adminToken, client, freePort, spawnServer, tempDir, text, waitFor } from './harness.js';
import { startReceiver } from './webhook-receiver.js';

const dir = tempDir('oncely-webhooks-kill9-');
const env = {
  ONCELY_WEBHOOK_ALLOW_PRIVATE: '1',
  ONCELY_WEBHOOK_POLL_MS: '50',
  ONCELY_WEBHOOK_TIMEOUT_MS: '1000',
  ONCELY_WEBHOOK_LEASE_MS: '1500',
  ONCELY_WEBHOOK_ENDPOINT_CONCURRENCY: '4',
};
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('webhooks across kill -9', () => {
  it('every event reaches the receiver after a SIGKILL mid-delivery and a restart', async () => {
    const receiver = await startReceiver();
    const port = await freePort();
    let server = await spawnServer(dir, port, env);
    try {
      const app = await client(server.url, adminToken).post('/v1/apps', { name: 'kill9' });
      const api = client(server.url, app.body.apiKey as string);
      receiver.secrets.push((await api.put('/v1/webhook-endpoints/h', { url: receiver.url })).body.secret);
      receiver.behave = () => 'hang';
      for (const u of ['alice', 'bob']) await api.put(`/v1/users/${u}`, {});
      const conv = (await api.post('/v1/conversations', { kind: 'group', members: ['alice', 'bob'] })).body
        .id;
      const ids: string[] = [];
      for (let i = 0; i < 40; i++) {
        const res = await api.post(`/v1/conversations/${conv}/messages`, {
          from: 'alice',
          body: text(`m${i}`),
        });
        expect(res.status).toBe(201);
        ids.push(res.body.id as string);
      }
      // Requests are open at the receiver (the rest wait in the outbox) when the server dies.
      await waitFor(() => receiver.holding === 4);
      await server.kill('SIGKILL');
      expect(receiver.unique.size).toBe(0);

      receiver.behave = () => 'ok';
      server = await spawnServer(dir, port, env);
      await waitFor(() => receiver.unique.size === 40, 30_000);
      expect(new Set(receiver.unique.keys())).toEqual(new Set(ids));
      expect(receiver.unverified).toBe(0);
      const delivered = () => api.get('/v1/webhook-endpoints/h/deliveries?state=succeeded&limit=500');
      await waitFor(async () => (await delivered()).body.items.length === 40);
    } finally {
      await server.kill();
      await receiver.close();
    }
  });
});
