// The example receiver (examples/webhook-receiver) against a real oncely: signatures verified, each event's
// effect applied once however often it arrives, and an effect that failed applied on oncely's retry.
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createWebhookReceiver } from '../examples/webhook-receiver/receiver.js';
import { createApp, startServer, tempDir, text, waitFor, type TestServer } from './harness.js';

let server: TestServer;
beforeAll(async () => {
  server = await startServer({
    ONCELY_WEBHOOK_ALLOW_PRIVATE: '1',
    ONCELY_WEBHOOK_POLL_MS: '20',
    ONCELY_WEBHOOK_RETRY_SCHEDULE: '0.05,0.05',
  });
});
afterAll(() => server.stop());

it('applies every message once: repeats are ignored and a failed effect is applied on the retry', async () => {
  const app = await createApp(server.url);
  // The endpoint first (its secret is shown once), then the receiver it points at.
  const put = await app.api.put('/v1/webhook-endpoints/example', { url: 'http://127.0.0.1:9/placeholder' });
  const failOnce = new Set<string>(['m2']);
  const { server: http, db } = createWebhookReceiver({
    secrets: [put.body.secret],
    filename: join(tempDir(), 'receiver.db'),
    apply(d, event) {
      const body = event.data.body as { text?: string } | null;
      d.prepare(
        'insert into inbox (message_id, conversation_id, seq, sender_id, body) values (?, ?, ?, ?, ?)',
      ).run(
        event.data.id,
        event.data.conversationId,
        event.data.seq,
        event.data.senderId,
        JSON.stringify(body),
      );
      // After the insert: the failure must roll back the effect and the seen record alike.
      if (body?.text && failOnce.delete(body.text)) throw new Error('disk full');
    },
  });
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  try {
    const port = (http.address() as AddressInfo).port;
    await app.api.put('/v1/webhook-endpoints/example', { url: `http://127.0.0.1:${port}/webhooks` });
    const conv = await app.group(['alice', 'bob']);
    const since = Date.now() - 1;
    for (let i = 0; i < 5; i++) {
      await app.api.post(`/v1/conversations/${conv}/messages`, { from: 'alice', body: text(`m${i}`) });
    }
    const succeeded = async () =>
      (await app.api.get('/v1/webhook-endpoints/example/deliveries?state=succeeded&limit=100')).body.items;
    await waitFor(async () => (await succeeded()).length === 5);
    // Everything again: the same webhook-ids, answered as duplicates.
    expect((await app.api.post('/v1/webhook-endpoints/example/replay', { since })).body.queued).toBe(5);
    await waitFor(async () => (await succeeded()).length === 10);

    const inbox = db.prepare('select body from inbox order by seq').all() as Array<{ body: string }>;
    expect(inbox.map((r) => JSON.parse(r.body).text)).toEqual(['m0', 'm1', 'm2', 'm3', 'm4']);
    expect(db.prepare('select count(*) as n from seen_webhooks').get()).toEqual({ n: 5 });
    const attempts = (await succeeded()).map((d: any) => d.attempts.map((a: any) => a.statusCode).join(','));
    expect(attempts.filter((a: string) => a === '500,200')).toHaveLength(1);
  } finally {
    await new Promise<void>((r) => http.close(() => r()));
  }
});
