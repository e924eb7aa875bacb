// The client library against the real server: it survives kill -9 and a restart under it, falls back to
// long-poll when the WebSocket cannot connect, fills seq gaps from history, and carries receipts and recalls.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import {
  OncelyClient,
  type ClientState,
  type OncelyClientOptions,
  type WebSocketConstructor,
  type WireEvent,
} from '../client/index.js';
import {
  createApp,
  freePort,
  spawnServer,
  startServer,
  tempDir,
  waitFor,
  type TestApp,
  type TestServer,
} from './harness.js';

const clients: OncelyClient[] = [];
const text = (t: string) => ({ type: 'text' as const, text: t });

/** A client with a fast reconnect schedule, recording what it hands to the application. */
function device(url: string, token: string, extra: Partial<OncelyClientOptions> = {}) {
  let saved: ClientState | undefined;
  const client = new OncelyClient({
    url,
    token,
    WebSocket: WebSocket as unknown as WebSocketConstructor,
    backoff: { initialMs: 50, maxMs: 400 },
    stateStore: { load: () => saved, save: (s) => void (saved = s) },
    ...extra,
  });
  clients.push(client);
  const events: WireEvent[] = [];
  client.on('event', (e) => events.push(e));
  return { client, events, messages: () => events.filter((e) => e.type === 'message.created') };
}

afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
});

describe('client library across a server crash', () => {
  it('survives kill -9 and a restart: every message once, in order, on every device', async () => {
    const dir = tempDir();
    const port = await freePort();
    let proc = await spawnServer(dir, port);
    try {
      const app = await createApp(proc.url);
      const [alice, bob] = await Promise.all([app.user('alice'), app.user('bob')]);
      const conv = await app.group(['alice', 'bob']);
      const sender = device(proc.url, alice.token, { transport: 'websocket' });
      const phone = device(proc.url, bob.token, { transport: 'websocket' });
      const laptop = device(proc.url, bob.token, { transport: 'auto', upgradeRetryMs: 300 });
      await Promise.all([sender, phone, laptop].map((d) => d.client.connect()));
      await waitFor(() => [sender, phone, laptop].every((d) => d.client.state.status === 'open'));

      const total = 120;
      const answers: Array<{ id: string; seq: number }> = [];
      const sending = (async () => {
        for (let i = 0; i < total; i++) {
          answers.push(await sender.client.send(conv, text(`m${i}`), { clientMsgId: `msg-${i}` }));
        }
      })();
      await waitFor(() => answers.length >= 40);
      await proc.kill('SIGKILL');
      await waitFor(() => sender.client.state.status === 'waiting');
      proc = await spawnServer(dir, port);
      await sending;

      const ids = answers.map((a) => a.id);
      expect(new Set(ids).size).toBe(total);
      for (const d of [sender, phone, laptop]) {
        await waitFor(() => d.messages().length >= total, 20_000);
        expect(d.messages().map((e) => e.body)).toEqual(
          Array.from({ length: total }, (_, i) => text(`m${i}`)),
        );
        expect(d.messages().map((e) => e.seq)).toEqual(Array.from({ length: total }, (_, i) => i + 1));
        expect(d.messages().map((e) => e.id)).toEqual(ids);
      }
      // The store agrees: each clientMsgId created exactly one message.
      const history = await app.api.get(`/v1/conversations/${conv}/messages?limit=1000`);
      expect(history.body.items).toHaveLength(total);
    } finally {
      await proc.kill('SIGKILL');
    }
  });
});

describe('client library', () => {
  let server: TestServer;
  let app: TestApp;
  beforeAll(async () => {
    server = await startServer();
    app = await createApp(server.url);
  });
  afterAll(() => server.stop());

  it('falls back to long-poll when the WebSocket cannot connect, and still sends and receives', async () => {
    const [cat, dog] = await Promise.all([app.user('cat'), app.user('dog')]);
    const conv = await app.group(['cat', 'dog']);
    /** A WebSocket that never connects (a proxy that refuses upgrades). */
    class Refused {
      readyState = 3;
      onopen = null;
      onmessage = null;
      onerror: ((ev: unknown) => void) | null = null;
      onclose: ((ev: { code: number; reason: string }) => void) | null = null;
      constructor() {
        setTimeout(() => this.onclose?.({ code: 1006, reason: '' }), 1);
      }
      send() {}
      close() {}
    }
    const catDevice = device(server.url, cat.token, {
      WebSocket: Refused as unknown as WebSocketConstructor,
    });
    const dogDevice = device(server.url, dog.token);
    await Promise.all([catDevice.client.connect(), dogDevice.client.connect()]);
    await waitFor(() => catDevice.client.state.status === 'open' && dogDevice.client.state.status === 'open');
    expect(catDevice.client.state.transport).toBe('longpoll');
    expect(catDevice.client.userId).toBe('cat');
    const answer = await catDevice.client.send(conv, text('over http'), { clientMsgId: 'lp-1' });
    expect(answer.seq).toBe(1);
    await dogDevice.client.send(conv, text('over ws'));
    await waitFor(() => catDevice.messages().length === 2 && dogDevice.messages().length === 2);
    expect(catDevice.messages().map((e) => e.body)).toEqual([text('over http'), text('over ws')]);
    expect(dogDevice.messages().map((e) => e.seq)).toEqual([1, 2]);
  });

  it('fills a seq gap from history and hands the events over in order', async () => {
    const [eel, fox] = await Promise.all([app.user('eel'), app.user('fox')]);
    const conv = await app.group(['eel', 'fox']);
    for (let i = 1; i <= 5; i++)
      await fox.post(`/v1/conversations/${conv}/messages`, { body: text(`h${i}`) });
    const now = (await eel.get('/v1/sync')).body.cursor as string;
    // A saved state that knows only seq 2 of this conversation, and a cursor of now: seq 3..5 are missing.
    const gappy = device(server.url, eel.token, {
      stateStore: { load: () => ({ cursor: now, seqs: { [conv]: 2 } }), save: () => undefined },
    });
    await gappy.client.connect();
    await waitFor(() => gappy.client.state.status === 'open');
    await fox.post(`/v1/conversations/${conv}/messages`, { body: text('h6') });
    await waitFor(() => gappy.messages().length === 4);
    expect(gappy.messages().map((e) => e.seq)).toEqual([3, 4, 5, 6]);
    expect(gappy.client.seqs[conv]).toBe(6);
  });

  it('drops a saved cursor the server does not accept and connects from now', async () => {
    const ivy = await app.user('ivy');
    const conv = await app.group(['ivy']);
    const errors: string[] = [];
    const stale = device(server.url, ivy.token, {
      stateStore: { load: () => ({ cursor: 'not-a-cursor' }), save: () => undefined },
    });
    stale.client.on('error', (e) => errors.push(e.code));
    await stale.client.connect();
    await waitFor(() => stale.client.state.status === 'open');
    expect(errors).toContain('invalid_cursor');
    await stale.client.send(conv, text('after reset'));
    await waitFor(() => stale.messages().length === 1);
  });

  it('carries receipts and recalls live between devices', async () => {
    const [gnu, hen] = await Promise.all([app.user('gnu'), app.user('hen')]);
    const conv = await app.group(['gnu', 'hen']);
    const writer = device(server.url, gnu.token);
    const reader = device(server.url, hen.token);
    const receipts: unknown[] = [];
    writer.client.on('receipt', (r) => receipts.push(r));
    await Promise.all([writer.client.connect(), reader.client.connect()]);
    await waitFor(() => writer.client.state.status === 'open' && reader.client.state.status === 'open');
    const sent = await writer.client.send(conv, text('oops'));
    await waitFor(() => reader.messages().length === 1);
    await reader.client.markReceipt(conv, { readSeq: sent.seq });
    await waitFor(() => receipts.length > 0);
    expect(receipts.at(-1)).toEqual({ conversationId: conv, userId: 'hen', deliveredSeq: 1, readSeq: 1 });
    await writer.client.recall(sent.id);
    await waitFor(() => reader.events.some((e) => e.type === 'message.recalled'));
    expect(reader.events.at(-1)).toMatchObject({ type: 'message.recalled', messageId: sent.id, seq: 2 });
    await expect(reader.client.recall(sent.id)).rejects.toMatchObject({ code: 'not_sender', status: 403 });
  });
});
