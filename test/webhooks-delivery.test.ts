// Outbound webhooks against a real receiver that verifies every delivery with `standardwebhooks`: every event
// arrives, failures are retried then dead-lettered, a dead letter retried by hand arrives, 410 disables,
// a slow endpoint does not hold up another, rotated secrets overlap, ordered endpoints keep seq order.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, startServer, text, waitFor, type TestApp, type TestServer } from './harness.js';
import { startReceiver, type TestReceiver } from './webhook-receiver.js';

const env = {
  ONCELY_WEBHOOK_ALLOW_PRIVATE: '1',
  ONCELY_WEBHOOK_POLL_MS: '20',
  ONCELY_WEBHOOK_RETRY_SCHEDULE: '0.05,0.05,0.05',
  ONCELY_WEBHOOK_TIMEOUT_MS: '400',
  ONCELY_WEBHOOK_LEASE_MS: '3000',
  ONCELY_WEBHOOK_ENDPOINT_CONCURRENCY: '4',
};

let server: TestServer;
const receivers: TestReceiver[] = [];

beforeAll(async () => {
  server = await startServer(env);
});
afterAll(async () => {
  await server.stop();
  await Promise.all(receivers.map((r) => r.close()));
});

/** An app with a receiver and an endpoint pointing at it; the receiver verifies with the endpoint's secret. */
async function setup(body: Record<string, unknown> = {}, endpointId = 'hook') {
  const app = await createApp(server.url);
  const receiver = await startReceiver();
  receivers.push(receiver);
  const res = await app.api.put(`/v1/webhook-endpoints/${endpointId}`, { url: receiver.url, ...body });
  expect(res.status).toBe(201);
  expect(res.body.secret).toMatch(/^whsec_/);
  receiver.secrets.push(res.body.secret as string);
  return { app, receiver, endpoint: res.body as { id: string; secret: string } };
}

async function send(app: TestApp, conversationId: string, from: string, n: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const res = await app.api.post(`/v1/conversations/${conversationId}/messages`, {
      from,
      body: text(`m${i}`),
    });
    expect(res.status).toBe(201);
    ids.push(res.body.id as string);
  }
  return ids;
}

describe('outbound webhooks', () => {
  it('delivers every kind of event once per webhook-id, signed, with the event as data', async () => {
    const { app, receiver } = await setup();
    const conv = await app.group(['alice', 'bob']);
    const sent = await send(app, conv, 'alice', 5);
    const batch = await app.api.post('/v1/messages/batch', {
      items: [0, 1, 2].map((i) => ({
        idempotencyKey: `b${i}`,
        from: 'bob',
        conversationId: conv,
        body: text(`b${i}`),
      })),
    });
    expect(batch.status).toBe(200);
    await app.api.put('/v1/users/carol', {});
    expect(
      (await app.api.post(`/v1/conversations/${conv}/members`, { userIds: ['carol'] })).status,
    ).toBeLessThan(300);
    expect((await app.api.delete(`/v1/conversations/${conv}/members/carol`)).status).toBeLessThan(300);
    expect((await app.api.post(`/v1/messages/${sent[0]}/recall`)).status).toBe(200);
    // 5 + 3 messages, member.added, member.removed, message.recalled.
    await waitFor(() => receiver.unique.size === 11);
    const types = [...receiver.unique.values()].map((r) => r.payload.type).sort();
    expect(types.filter((t) => t === 'message.created')).toHaveLength(8);
    expect(types).toEqual(expect.arrayContaining(['member.added', 'member.removed', 'message.recalled']));
    const first = receiver.unique.get(sent[1]!)!;
    expect(first.payload.data).toMatchObject({ id: sent[1], conversationId: conv, type: 'message.created' });
    expect(first.payload.timestamp).toBe(first.payload.data.createdAt);
    expect(receiver.unverified).toBe(0);
    // Outcomes are recorded a moment after the answers.
    const succeeded = () => app.api.get('/v1/webhook-endpoints/hook/deliveries?state=succeeded&limit=500');
    await waitFor(async () => (await succeeded()).body.items.length === 11);
    const list = await succeeded();
    expect(list.body.items[0].attempts[0]).toMatchObject({ n: 1, statusCode: 204, error: null });
  });

  it('only the event types an endpoint asks for', async () => {
    const { app, receiver } = await setup({ events: ['member.added'] });
    const conv = await app.group(['alice', 'bob']);
    await send(app, conv, 'alice', 2);
    await app.api.put('/v1/users/carol', {});
    await app.api.post(`/v1/conversations/${conv}/members`, { userIds: ['carol'] });
    await waitFor(() => receiver.unique.size === 1);
    await send(app, conv, 'alice', 1);
    await app.api.delete(`/v1/conversations/${conv}/members/carol`);
    await app.api.put('/v1/users/dave', {});
    await app.api.post(`/v1/conversations/${conv}/members`, { userIds: ['dave'] });
    await waitFor(() => receiver.unique.size === 2);
    expect([...receiver.unique.values()].map((r) => r.payload.type)).toEqual([
      'member.added',
      'member.added',
    ]);
  });

  it('retries failures and timeouts on the schedule; a slow answer within the timeout succeeds', async () => {
    const { app, receiver } = await setup();
    receiver.behave = (r, attempt) =>
      r.payload.data.body?.text === 'm0'
        ? attempt < 3
          ? 'fail'
          : 'ok'
        : r.payload.data.body?.text === 'm1'
          ? attempt < 2
            ? 'hang'
            : 'ok'
          : { delayMs: 150 };
    const conv = await app.group(['alice', 'bob']);
    const [m0, m1, m2] = await send(app, conv, 'alice', 3);
    await waitFor(() => receiver.unique.size === 3);
    const all = () => app.api.get('/v1/webhook-endpoints/hook/deliveries');
    await waitFor(async () => (await all()).body.items.every((d: any) => d.state === 'succeeded'));
    const list = await all();
    const byEvent = new Map(list.body.items.map((d: any) => [d.eventId, d]));
    const d0: any = byEvent.get(m0);
    expect(d0.state).toBe('succeeded');
    expect(d0.attempts.map((a: any) => a.statusCode)).toEqual([500, 500, 204]);
    expect(d0.attempts[0].error).toBe('HTTP 500');
    const d1: any = byEvent.get(m1);
    expect(d1.attempts[0]).toMatchObject({ statusCode: null, error: 'timeout after 400 ms' });
    expect(d1.attempts[1].statusCode).toBe(204);
    expect((byEvent.get(m2) as any).attempts).toHaveLength(1);
  });

  it('a delivery that fails its last try is a dead letter; retried by hand it arrives', async () => {
    const { app, receiver } = await setup();
    let down = true;
    receiver.behave = () => (down ? 'fail' : 'ok');
    const conv = await app.group(['alice', 'bob']);
    const [id] = await send(app, conv, 'alice', 1);
    let dead: any;
    await waitFor(async () => {
      const res = await app.api.get('/v1/webhook-endpoints/hook/deliveries?state=failed');
      dead = res.body.items[0];
      return dead !== undefined;
    });
    expect(dead).toMatchObject({ eventId: id, state: 'failed', attemptCount: 4, lastStatus: 500 });
    down = false;
    expect((await app.api.post(`/v1/webhook-deliveries/${dead.id}/retry`)).status).toBe(202);
    await waitFor(() => receiver.unique.has(id!));
    await waitFor(
      async () =>
        (await app.api.get('/v1/webhook-endpoints/hook/deliveries?state=succeeded')).body.items.length === 1,
    );
    const again = await app.api.post(`/v1/webhook-deliveries/${dead.id}/retry`);
    expect(again.status).toBe(202);
    await waitFor(() => receiver.requests.filter((r) => r.id === id).length === 2);
    expect(receiver.unique.size).toBe(1);
    // Every attempt listed in order: the four failures, the success retried by hand, and the one after it.
    await waitFor(async () => {
      const res = await app.api.get('/v1/webhook-endpoints/hook/deliveries?state=succeeded');
      return res.body.items[0]?.attemptCount === 6;
    });
    const done = (await app.api.get('/v1/webhook-endpoints/hook/deliveries?state=succeeded')).body.items[0];
    expect(done.attempts.map((a: any) => [a.n, a.statusCode])).toEqual([
      [1, 500],
      [2, 500],
      [3, 500],
      [4, 500],
      [5, 204],
      [6, 204],
    ]);
  });

  it('410 Gone disables the endpoint and turns its pending deliveries into dead letters', async () => {
    const { app, receiver } = await setup();
    receiver.behave = () => 'gone';
    const conv = await app.group(['alice', 'bob']);
    await send(app, conv, 'alice', 1);
    await waitFor(async () => (await app.api.get('/v1/webhook-endpoints/hook')).body.enabled === false);
    const endpoint = await app.api.get('/v1/webhook-endpoints/hook');
    expect(endpoint.body.disabledReason).toBe('gone');
    await send(app, conv, 'alice', 1);
    const failed = await app.api.get('/v1/webhook-endpoints/hook/deliveries?state=failed');
    expect(failed.body.items).toHaveLength(1);
    expect(failed.body.items[0].lastStatus).toBe(410);
    expect(
      (await app.api.post(`/v1/webhook-deliveries/${failed.body.items[0].id}/retry`)).body.error.code,
    ).toBe('webhook_endpoint_disabled');
    // Enabled again by the app, new events flow.
    receiver.behave = () => 'ok';
    const put = await app.api.put('/v1/webhook-endpoints/hook', { url: receiver.url, enabled: true });
    expect(put.body).toMatchObject({ enabled: true, disabledReason: null });
    const [later] = await send(app, conv, 'alice', 1);
    await waitFor(() => receiver.unique.has(later!));
  });

  it('a receiver that hangs does not hold up another endpoint of the same app', async () => {
    // Its own server with a long timeout: the hanging requests stay open for the whole test.
    const patient = await startServer({
      ...env,
      ONCELY_WEBHOOK_TIMEOUT_MS: '20000',
      ONCELY_WEBHOOK_LEASE_MS: '60000',
    });
    try {
      const app = await createApp(patient.url);
      const stuck = await startReceiver();
      const fast = await startReceiver();
      receivers.push(stuck, fast);
      stuck.behave = () => 'hang';
      for (const [id, receiver] of [
        ['stuck', stuck],
        ['fast', fast],
      ] as const) {
        const res = await app.api.put(`/v1/webhook-endpoints/${id}`, { url: receiver.url });
        receiver.secrets.push(res.body.secret);
      }
      const conv = await app.group(['alice', 'bob']);
      const ids = await send(app, conv, 'alice', 30);
      await waitFor(() => fast.unique.size === 30 && stuck.holding === 4);
      expect(ids.every((id) => fast.unique.has(id))).toBe(true);
      // The stuck one never had more requests open than its concurrency limit.
      expect(stuck.maxHolding).toBe(4);
    } finally {
      await patient.stop();
    }
  });

  it('after a rotation both secrets sign, so a receiver with either one verifies', async () => {
    const { app, receiver, endpoint } = await setup();
    const rotated = await app.api.post('/v1/webhook-endpoints/hook/rotate-secret');
    expect(rotated.status).toBe(200);
    expect(rotated.body.secret).toMatch(/^whsec_/);
    expect(rotated.body.secret).not.toBe(endpoint.secret);
    expect(rotated.body.endpoint.secrets).toHaveLength(2);
    receiver.secrets.splice(0, 1, endpoint.secret, rotated.body.secret);
    const conv = await app.group(['alice', 'bob']);
    const [id] = await send(app, conv, 'alice', 1);
    await waitFor(() => receiver.unique.has(id!));
    const got = receiver.unique.get(id!)!;
    expect(got.verifiedBy).toEqual([0, 1]);
    expect(got.signature.split(' ')).toHaveLength(2);
  });

  it('an ordered endpoint receives each conversation in seq order, a retrying delivery holding back later ones', async () => {
    const { app, receiver } = await setup({ ordered: true });
    receiver.behave = (r, attempt) => (r.payload.data.seq % 3 === 0 && attempt < 3 ? 'fail' : 'ok');
    const convs = [await app.group(['alice', 'bob']), await app.group(['alice', 'carol'])];
    await Promise.all(convs.map((c) => send(app, c, 'alice', 10)));
    await waitFor(() => receiver.unique.size === 20);
    for (const c of convs) {
      const seqs = receiver.requests
        .filter((r) => r.payload.data.conversationId === c)
        .map((r) => r.payload.data.seq);
      expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
      expect(new Set(seqs).size).toBe(10);
    }
  });

  it('replays every event since a time with the same webhook-ids', async () => {
    const { app, receiver } = await setup();
    const conv = await app.group(['alice', 'bob']);
    const since = new Date().toISOString();
    const ids = await send(app, conv, 'alice', 4);
    await waitFor(() => receiver.unique.size === 4);
    const res = await app.api.post('/v1/webhook-endpoints/hook/replay', { since });
    expect(res.status).toBe(202);
    expect(res.body.queued).toBe(4);
    await waitFor(() => receiver.requests.length === 8);
    expect(new Set(receiver.requests.map((r) => r.id))).toEqual(new Set(ids));
  });
});
