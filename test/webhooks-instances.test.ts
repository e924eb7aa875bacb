// Two instances on one database, each writing the outbox rows of its own sends leased to itself (the local
// fast path): every event is delivered once while both run, and when one is killed with SIGKILL holding
// requests open, the other delivers what it had leased once the lease ends — no restart needed. Several
// instances share a PostgreSQL database (docs/scaling.md); two processes writing one SQLite file are no
// deployment (under load a write waits past SQLite's busy timeout).
import { rmSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { adminToken, client, freePort, spawnServer, tempDir, testStore, text, waitFor } from './harness.js';
import { startReceiver } from './webhook-receiver.js';

const dir = tempDir('oncely-webhooks-instances-');
const env = {
  ONCELY_WEBHOOK_ALLOW_PRIVATE: '1',
  ONCELY_WEBHOOK_POLL_MS: '50',
  ONCELY_WEBHOOK_TIMEOUT_MS: '1000',
  // Long enough that no request outlives its row's lease on a loaded machine (that would be sent twice).
  ONCELY_WEBHOOK_LEASE_MS: '3000',
  ONCELY_WEBHOOK_ENDPOINT_CONCURRENCY: '4',
};
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe.runIf(testStore === 'postgres')('webhooks with two instances', () => {
  it('each instance delivers its own events; a killed one’s leased rows are delivered by the other', async () => {
    const receiver = await startReceiver();
    const [one, two] = [
      await spawnServer(dir, await freePort(), env),
      await spawnServer(dir, await freePort(), env),
    ];
    try {
      const app = await client(one.url, adminToken).post('/v1/apps', { name: 'instances' });
      const apis = [one, two].map((s) => client(s.url, app.body.apiKey as string));
      const [api1, api2] = apis as [(typeof apis)[0], (typeof apis)[0]];
      receiver.secrets.push((await api1.put('/v1/webhook-endpoints/h', { url: receiver.url })).body.secret);
      for (const u of ['alice', 'bob']) await api1.put(`/v1/users/${u}`, {});
      const conv = (await api1.post('/v1/conversations', { kind: 'group', members: ['alice', 'bob'] })).body
        .id as string;
      const send = async (api: typeof api1, i: number) => {
        const res = await api.post(`/v1/conversations/${conv}/messages`, {
          from: 'alice',
          body: text(`m${i}`),
        });
        expect(res.status).toBe(201);
        return res.body.id as string;
      };
      // Both running: every event once (member events of the setup included), none sent twice.
      const ids: string[] = [];
      for (let i = 0; i < 20; i++) ids.push(await send(i % 2 === 0 ? api1 : api2, i));
      await waitFor(() => ids.every((id) => receiver.unique.has(id)), 30_000);
      const settled = receiver.unique.size;
      await waitFor(async () => {
        const page = await api1.get('/v1/webhook-endpoints/h/deliveries?state=pending&limit=10');
        return page.body.items.length === 0;
      });
      expect(receiver.requests.length).toBe(settled);

      // The first instance dies holding requests open, with more of its rows leased to it and waiting.
      receiver.behave = () => 'hang';
      const held: string[] = [];
      for (let i = 0; i < 12; i++) held.push(await send(api1, 100 + i));
      await waitFor(() => receiver.holding === 4);
      await one.kill('SIGKILL');
      receiver.behave = () => 'ok';
      // Sends to the survivor go on; the dead one's rows reach the receiver through it after their lease.
      for (let i = 0; i < 4; i++) held.push(await send(api2, 200 + i));
      await waitFor(() => held.every((id) => receiver.unique.has(id)), 30_000);
      expect(receiver.unverified).toBe(0);
      await waitFor(async () => {
        const page = await api2.get('/v1/webhook-endpoints/h/deliveries?state=succeeded&limit=500');
        return held.every((id) => page.body.items.some((d: { eventId: string }) => d.eventId === id));
      });
    } finally {
      await Promise.all([one.kill(), two.kill()]);
      await receiver.close();
    }
  });
});
