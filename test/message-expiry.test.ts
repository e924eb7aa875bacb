// Message expiry: a conversation's retention (on create, by PATCH, or the deployment's default); a message
// past it reads as `expired: true` with no body at once, and the sweep erases its body from what the store
// keeps (SQLite: the database file and its WAL; PostgreSQL: every row version), with seqs still gapless.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { ManualClock } from '../src/clock.js';
import { createExpirySweeper } from '../src/conversations/expiry-sweeper.js';
import { createExpiryRule } from '../src/conversations/expiry-rule.js';
import { createApp, startServer, text, type Client, type TestApp, type TestServer } from './harness.js';
import { storedEventBytes } from './test-store.js';

const clock = new ManualClock();
let server: TestServer;
let app: TestApp;
let alice: Client;
let bob: Client;

// Short enough that the users' tokens (an hour) outlive every move of the clock here.
const defaultRetention = 600;

beforeAll(async () => {
  server = await startServer(
    {
      ONCELY_MESSAGE_RETENTION_SECONDS: String(defaultRetention),
      // The tests run the sweep themselves.
      ONCELY_EXPIRY_SWEEP_INTERVAL_MS: '0',
    },
    { clock },
  );
  app = await createApp(server.url);
  alice = await app.user('alice');
  bob = await app.user('bob');
});
afterAll(() => server.stop());

const sweep = () => server.oncely.services.expirySweeper.sweep();
const patch = (conv: string, body: unknown, as: Client = app.api) =>
  as.call('PATCH', `/v1/conversations/${conv}`, body);

async function send(conv: string, t: string): Promise<{ id: string; seq: number }> {
  const res = await alice.post(`/v1/conversations/${conv}/messages`, { body: text(t) });
  expect(res.status).toBe(201);
  return res.body;
}

async function history(conv: string) {
  const res = await bob.get(`/v1/conversations/${conv}/messages?limit=1000`);
  expect(res.status).toBe(200);
  return res.body.items as Array<{
    id: string;
    seq: number;
    body: unknown;
    expired?: boolean;
    recalled?: boolean;
  }>;
}

describe('retention settings', () => {
  it('a conversation takes its retention on create, the default otherwise, and the app changes it with PATCH', async () => {
    const own = await app.group(['alice', 'bob'], { retentionSeconds: 60 });
    expect((await bob.get(`/v1/conversations/${own}`)).body.retentionSeconds).toBe(60);
    const usual = await app.group(['alice', 'bob']);
    expect((await bob.get(`/v1/conversations/${usual}`)).body.retentionSeconds).toBe(defaultRetention);

    const changed = await patch(usual, { retentionSeconds: 0 });
    expect(changed.status).toBe(200);
    expect(changed.body).toMatchObject({ id: usual, retentionSeconds: 0 });
    const listed = (await bob.get('/v1/me/conversations')).body.items;
    expect(listed.find((c: { id: string }) => c.id === usual).retentionSeconds).toBe(0);
    expect(listed.find((c: { id: string }) => c.id === own).retentionSeconds).toBe(60);

    const back = await patch(usual, { retentionSeconds: null });
    expect(back.body.retentionSeconds).toBe(defaultRetention);
  });

  it('bad retention changes are refused and change nothing', async () => {
    const conv = await app.group(['alice', 'bob'], { retentionSeconds: 60 });
    const negative = await patch(conv, { retentionSeconds: -1 });
    expect(negative.status).toBe(400);
    expect((await patch(conv, {})).status).toBe(400);
    const byMember = await patch(conv, { retentionSeconds: 1 }, alice);
    expect(byMember.status).toBe(403);
    const unknown = await patch(`nope-${randomUUID()}`, { retentionSeconds: 1 });
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.code).toBe('conversation_not_found');
    expect((await bob.get(`/v1/conversations/${conv}`)).body.retentionSeconds).toBe(60);
  });
});

describe('expiry', () => {
  it('a message past its retention reads as expired at once; the sweep erases its body from the database files; seqs stay gapless', async () => {
    const conv = await app.group(['alice', 'bob'], { retentionSeconds: 60 });
    const marker = `EXPIRES-${randomUUID()}`;
    const old = await send(conv, marker);
    clock.advance(30_000);
    const keptMarker = `KEPT-${randomUUID()}`;
    const kept = await send(conv, keptMarker);
    expect(await storedEventBytes(server.dir)).toContain(marker);

    clock.advance(31_000);
    // Before any sweep, reads apply the rule.
    let items = await history(conv);
    expect(items.find((e) => e.id === old.id)).toMatchObject({ body: null, expired: true });
    expect(items.find((e) => e.id === kept.id)).toMatchObject({ body: text(keptMarker) });
    expect((await bob.get(`/v1/messages/${old.id}`)).body).toMatchObject({ body: null, expired: true });

    expect(await sweep()).toBeGreaterThanOrEqual(1);
    items = await history(conv);
    expect(JSON.stringify(items)).not.toContain(marker);
    expect(items.find((e) => e.id === old.id)).toMatchObject({ body: null, expired: true });
    expect(items.find((e) => e.id === kept.id)!.expired).toBeUndefined();
    expect(items.map((e) => e.seq)).toEqual(Array.from({ length: items.length }, (_, i) => i + 1));
    const bytes = await storedEventBytes(server.dir);
    expect(bytes).not.toContain(marker);
    expect(bytes).toContain(keptMarker);

    // The next message is sequenced right after: expiry takes no seq and leaves none out.
    const next = await send(conv, 'after');
    expect(next.seq).toBe(kept.seq + 1);

    clock.advance(61_000);
    expect(await sweep()).toBeGreaterThanOrEqual(1);
    const last = (await bob.get('/v1/me/conversations')).body.items.find(
      (c: { id: string }) => c.id === conv,
    );
    expect(last.lastMessage).toMatchObject({ id: next.id, body: null, expired: true });
    expect(await storedEventBytes(server.dir)).not.toContain(keptMarker);
  });

  it('the deployment default applies to conversations without their own; 0 keeps messages forever', async () => {
    const usual = await app.group(['alice', 'bob']);
    const forever = await app.group(['alice', 'bob'], { retentionSeconds: 0 });
    const a = await send(usual, 'default retention');
    const b = await send(forever, 'kept forever');
    clock.advance(defaultRetention * 1000 + 1);
    await sweep();
    expect((await bob.get(`/v1/messages/${a.id}`)).body).toMatchObject({ body: null, expired: true });
    expect((await bob.get(`/v1/messages/${b.id}`)).body).toMatchObject({ body: text('kept forever') });
  });

  it('a shorter retention set later expires older messages at the next sweep', async () => {
    const conv = await app.group(['alice', 'bob'], { retentionSeconds: 0 });
    const m = await send(conv, 'kept until the retention changes');
    clock.advance(10_000);
    await sweep();
    expect((await bob.get(`/v1/messages/${m.id}`)).body.expired).toBeUndefined();
    await patch(conv, { retentionSeconds: 5 });
    await sweep();
    expect((await bob.get(`/v1/messages/${m.id}`)).body).toMatchObject({ body: null, expired: true });
  });

  it('a recalled message that expires stays recalled', async () => {
    const conv = await app.group(['alice', 'bob'], { retentionSeconds: 60 });
    const m = await send(conv, 'recalled first');
    expect((await alice.post(`/v1/messages/${m.id}/recall`)).status).toBe(200);
    clock.advance(61_000);
    await sweep();
    const read = (await bob.get(`/v1/messages/${m.id}`)).body;
    expect(read).toMatchObject({ recalled: true, status: 'recalled' });
    expect(read.expired).toBeUndefined();
  });

  it('a sweep with small transactions takes every due message of every conversation, and none within the retention', async () => {
    const convs = await Promise.all(
      [1, 2, 3, 4, 5].map(() => app.group(['alice', 'bob'], { retentionSeconds: 60 })),
    );
    for (const conv of convs) for (let i = 0; i < 7; i++) await send(conv, `m${i}`);
    clock.advance(61_000);
    const fresh = await send(convs[0]!, 'fresh');
    const sweeper = createExpirySweeper({
      store: server.oncely.services.store,
      clock,
      logger: server.oncely.services.logger,
      expiry: createExpiryRule({ defaultSeconds: defaultRetention, clock }),
      intervalMs: 0,
      conversationsPerTransaction: 2,
      messagesPerConversation: 3,
    });
    try {
      expect(await sweeper.sweep()).toBeGreaterThanOrEqual(35);
    } finally {
      await sweeper.close();
    }
    for (const conv of convs) {
      const items = (await history(conv)).filter((e) => e.id !== fresh.id);
      expect(
        items.filter((e) => e.body !== null && (e as { type?: string }).type === 'message.created'),
      ).toEqual([]);
    }
    const rows = await server.oncely.services.store.db
      .selectFrom('events')
      .select(['body', 'expired_at'])
      .where('id', '=', fresh.id)
      .executeTakeFirstOrThrow();
    expect(rows).toMatchObject({ expired_at: null });
    expect(rows.body).toContain('fresh');
  });
});
