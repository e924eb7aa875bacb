// Recall: who may recall and when, the sequenced message.recalled event, and the body erased from history
// and from what the store keeps (SQLite: the bytes of the database file and its WAL; PostgreSQL: every row
// version in the table's pages).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { ManualClock } from '../src/clock.js';
import { createApp, startServer, text, type Client, type TestApp, type TestServer } from './harness.js';
import { storedEventBytes } from './test-store.js';

const clock = new ManualClock();
let server: TestServer;
let app: TestApp;
let alice: Client;
let bob: Client;
let admin: Client;
let conv: string;

beforeAll(async () => {
  server = await startServer({ ONCELY_RECALL_WINDOW_SECONDS: '120' }, { clock });
  app = await createApp(server.url);
  alice = await app.user('alice');
  bob = await app.user('bob');
  admin = await app.user('boss');
  conv = await app.group(['alice', 'bob', 'boss'], { admins: ['boss'] });
});
afterAll(() => server.stop());

async function send(t: string): Promise<string> {
  const res = await alice.post(`/v1/conversations/${conv}/messages`, { body: text(t) });
  expect(res.status).toBe(201);
  return res.body.id;
}

describe('recall', () => {
  it('the sender recalls within the window; the body is gone from history and from the database files', async () => {
    const marker = `SECRET-${randomUUID()}`;
    const control = `KEPT-${randomUUID()}`;
    const id = await send(marker);
    await send(control);
    // The search itself works: both markers are in the files before the recall.
    expect(await storedEventBytes(server.dir)).toContain(marker);

    clock.advance(60_000);
    const res = await alice.post(`/v1/messages/${id}/recall`);
    expect(res.status).toBe(200);
    expect(res.body.event).toMatchObject({ type: 'message.recalled', messageId: id, senderId: 'alice' });

    const history = await bob.get(`/v1/conversations/${conv}/messages?limit=1000`);
    const recalled = history.body.items.find((e: { id: string }) => e.id === id);
    expect(recalled).toMatchObject({ body: null, recalled: true });
    const last = history.body.items.at(-1);
    expect(last).toMatchObject({ type: 'message.recalled', messageId: id, seq: res.body.event.seq });
    expect(JSON.stringify(history.body)).not.toContain(marker);
    expect((await bob.get(`/v1/messages/${id}`)).body.status).toBe('recalled');

    const bytes = await storedEventBytes(server.dir);
    expect(bytes).not.toContain(marker);
    expect(bytes).toContain(control);
  });

  it('after the window the sender gets 409 recall_window_expired', async () => {
    const id = await send('too late');
    clock.advance(121_000);
    const res = await alice.post(`/v1/messages/${id}/recall`);
    expect(res.status).toBe(409);
    expect(res.body.error.code).toBe('recall_window_expired');
    expect((await bob.get(`/v1/messages/${id}`)).body.body).toEqual(text('too late'));
  });

  it('another member gets 403 not_sender', async () => {
    const id = await send('mine');
    const res = await bob.post(`/v1/messages/${id}/recall`);
    expect(res.status).toBe(403);
    expect(res.body.error.code).toBe('not_sender');
    expect((await bob.get(`/v1/messages/${id}`)).body.status).not.toBe('recalled');
  });

  it('a conversation admin and the app may recall, also after the window', async () => {
    const byAdmin = await send('admin removes this');
    const byApp = await send('app removes this');
    clock.advance(600_000);
    const first = await admin.post(`/v1/messages/${byAdmin}/recall`);
    expect(first.status).toBe(200);
    expect(first.body.event.senderId).toBe('boss');
    const second = await app.api.post(`/v1/messages/${byApp}/recall`);
    expect(second.status).toBe(200);
    expect(second.body.event.senderId).toBeNull();
  });

  it('a repeated recall answers like the first and appends nothing', async () => {
    const id = await send('twice');
    const first = await alice.post(`/v1/messages/${id}/recall`);
    const again = await alice.post(`/v1/messages/${id}/recall`);
    expect(again.status).toBe(200);
    expect(again.body.event.id).toBe(first.body.event.id);
    const history = await bob.get(`/v1/conversations/${conv}/messages?limit=1000`);
    const recalls = history.body.items.filter(
      (e: { type: string; messageId?: string }) => e.type === 'message.recalled' && e.messageId === id,
    );
    expect(recalls).toHaveLength(1);
    const seqs = history.body.items.map((e: { seq: number }) => e.seq);
    expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => i + 1));
  });
});
