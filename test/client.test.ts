// The client library against the real server: it survives kill -9 and a restart under it (waiting for the
// server on the WebSocket), falls back to long-poll only when HTTP works but the WebSocket does not and
// returns to the socket once it can, reconnects at once when asked, fills seq gaps from history, and
// carries receipts and recalls.
import { rmSync } from 'node:fs';
import { createServer, request } from 'node:http';
import { connect, type Socket } from 'node:net';
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

/** The transports a client was open on, in order, each change once. */
function transportsOf(client: OncelyClient): string[] {
  const seen: string[] = [];
  client.on('state', (s) => {
    if (s.status === 'open' && s.transport && seen.at(-1) !== s.transport) seen.push(s.transport);
  });
  return seen;
}

/**
 * A reverse proxy in front of the server that passes plain HTTP always and WebSocket upgrades only while
 * `blockUpgrades` is false: a proxy that does not speak WebSocket, then one that does.
 */
async function upgradeGate(target: string) {
  const to = new URL(target);
  const tunnels = new Set<Socket>();
  const proxy = createServer((req, res) => {
    const upstream = request(
      { host: to.hostname, port: to.port, method: req.method, path: req.url, headers: req.headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  const gate = { blockUpgrades: true, refused: 0, url: '', close: () => Promise.resolve() };
  proxy.on('upgrade', (req, socket: Socket, head: Buffer) => {
    if (gate.blockUpgrades) {
      gate.refused++;
      socket.end('HTTP/1.1 403 Forbidden\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    const upstream = connect(Number(to.port), to.hostname, () => {
      const lines = [`${req.method} ${req.url} HTTP/1.1`];
      for (let i = 0; i < req.rawHeaders.length; i += 2)
        lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
      upstream.write(`${lines.join('\r\n')}\r\n\r\n`);
      upstream.write(head);
      socket.pipe(upstream).pipe(socket);
    });
    for (const s of [socket, upstream]) {
      tunnels.add(s);
      s.on('close', () => tunnels.delete(s));
      s.on('error', () => (s === socket ? upstream : socket).destroy());
    }
  });
  await new Promise<void>((res) => proxy.listen(0, '127.0.0.1', res));
  const address = proxy.address();
  gate.url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  gate.close = () => {
    for (const s of tunnels) s.destroy();
    proxy.closeAllConnections();
    return new Promise<void>((res) => proxy.close(() => res()));
  };
  return gate;
}

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

  it('waits out a kill -9 on the WebSocket, not long-poll, and is back on it within seconds of the restart: every message once, in order', async () => {
    const dir = tempDir();
    const port = await freePort();
    let proc = await spawnServer(dir, port);
    try {
      const app = await createApp(proc.url);
      const [alice, bob] = await Promise.all([app.user('alice'), app.user('bob')]);
      const conv = await app.group(['alice', 'bob']);
      const sender = device(proc.url, alice.token, { transport: 'websocket' });
      // The default transport and fallback settings: long-poll after two failed socket attempts.
      const reader = device(proc.url, bob.token);
      const transports = transportsOf(reader.client);
      await Promise.all([sender.client.connect(), reader.client.connect()]);
      await waitFor(() => [sender, reader].every((d) => d.client.state.status === 'open'));

      const total = 60;
      const answers: Array<{ id: string; seq: number }> = [];
      const sending = (async () => {
        for (let i = 0; i < total; i++) {
          answers.push(await sender.client.send(conv, text(`k${i}`), { clientMsgId: `k-${i}` }));
        }
      })();
      await waitFor(() => answers.length >= 20);
      await proc.kill('SIGKILL');
      // Many more failed attempts than the two after which a blocked WebSocket would mean long-poll.
      await waitFor(() => reader.client.state.attempt >= 5);
      proc = await spawnServer(dir, port);
      await waitFor(
        () => reader.client.state.status === 'open' && reader.client.state.transport === 'websocket',
        10_000,
      );
      await sending;

      await waitFor(() => reader.messages().length >= total, 20_000);
      expect(reader.messages().map((e) => e.body)).toEqual(
        Array.from({ length: total }, (_, i) => text(`k${i}`)),
      );
      expect(reader.messages().map((e) => e.id)).toEqual(answers.map((a) => a.id));
      expect(transports).toEqual(['websocket']);
    } finally {
      await proc.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
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

  it('on the long-poll fallback retries the WebSocket and switches back once it connects, with no event lost or repeated', async () => {
    const [jay, kit] = await Promise.all([app.user('jay'), app.user('kit')]);
    const conv = await app.group(['jay', 'kit']);
    const gate = await upgradeGate(server.url);
    try {
      const behindProxy = device(gate.url, kit.token);
      const transports = transportsOf(behindProxy.client);
      const writer = device(server.url, jay.token);
      await Promise.all([behindProxy.client.connect(), writer.client.connect()]);
      await waitFor(
        () => behindProxy.client.state.status === 'open' && writer.client.state.status === 'open',
      );
      expect(behindProxy.client.state.transport).toBe('longpoll');

      const total = 60;
      const answers: Array<{ id: string }> = [];
      const sending = (async () => {
        for (let i = 0; i < total; i++) {
          // Both ways: kit's own sends go over REST while on long-poll, over the socket after.
          const from = i % 3 === 2 ? behindProxy : writer;
          answers.push(await from.client.send(conv, text(`u${i}`), { clientMsgId: `u-${i}` }));
        }
      })();
      await waitFor(() => answers.length >= 20);
      const refusedWhileBlocked = gate.refused;
      expect(refusedWhileBlocked).toBeGreaterThan(1);
      gate.blockUpgrades = false;
      await waitFor(() => behindProxy.client.state.transport === 'websocket', 10_000);
      await sending;

      for (const d of [behindProxy, writer]) {
        await waitFor(() => d.messages().length >= total);
        expect(d.messages().map((e) => e.body)).toEqual(
          Array.from({ length: total }, (_, i) => text(`u${i}`)),
        );
        expect(d.messages().map((e) => e.id)).toEqual(answers.map((a) => a.id));
      }
      expect(transports).toEqual(['longpoll', 'websocket']);
      await behindProxy.client.close();
    } finally {
      await gate.close();
    }
  });

  it('reconnectNow() cuts a long backoff short: a client waiting minutes to retry connects at once', async () => {
    const dir = tempDir();
    const port = await freePort();
    let restartable = await startServer({ ONCELY_PORT: String(port) }, { dir });
    try {
      const own = await createApp(restartable.url);
      const [lee, max] = await Promise.all([own.user('lee'), own.user('max')]);
      const conv = await own.group(['lee', 'max']);
      const patient = device(restartable.url, lee.token, { backoff: { initialMs: 120_000, maxMs: 120_000 } });
      await patient.client.connect();
      await waitFor(() => patient.client.state.status === 'open');

      await restartable.stop();
      await waitFor(
        () =>
          patient.client.state.status === 'waiting' &&
          patient.client.state.nextRetryAt! - Date.now() > 30_000,
      );
      restartable = await startServer({ ONCELY_PORT: String(port) }, { dir });
      await max.post(`/v1/conversations/${conv}/messages`, { body: text('while you waited') });
      patient.client.reconnectNow();
      await waitFor(
        () => patient.client.state.status === 'open' && patient.client.state.transport === 'websocket',
        10_000,
      );
      await waitFor(() => patient.messages().length === 1);
      expect(patient.messages()[0]!.body).toEqual(text('while you waited'));
    } finally {
      await restartable.stop();
      rmSync(dir, { recursive: true, force: true });
    }
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
