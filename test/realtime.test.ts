// The realtime stream over raw WebSockets against the real server: every device gets each event once, in
// order, live and after resume; membership, receipts and recall are live; sends are idempotent.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, startServer, text, waitFor, type TestApp, type TestServer } from './harness.js';
import { TestSocket, type Frame } from './realtime-socket.js';

let server: TestServer;
let app: TestApp;
const sockets: TestSocket[] = [];

async function connect(token: string, cursor?: string): Promise<TestSocket> {
  const socket = await TestSocket.connect(server.url, token, cursor);
  sockets.push(socket);
  return socket;
}

const seqsOf = (frames: Frame[], conv?: string) =>
  frames.filter((f) => !conv || f.event.conversationId === conv).map((f) => f.event.seq as number);
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

beforeAll(async () => {
  server = await startServer();
  app = await createApp(server.url);
});
afterAll(async () => {
  for (const s of sockets) s.ws.terminate();
  await server.stop();
});

describe('WebSocket delivery', () => {
  it('3 users × 2 devices each receive 500 mixed-sender messages once, in seq order', async () => {
    const users = await Promise.all(['ann', 'ben', 'cat'].map((u) => app.user(u)));
    const conv = await app.group(users.map((u) => u.userId));
    const devices = await Promise.all(users.flatMap((u) => [connect(u.token), connect(u.token)]));
    // Ten concurrent REST senders, the senders rotating.
    await Promise.all(
      range(0, 9).map(async (lane) => {
        for (let i = lane; i < 500; i += 10) {
          const from = users[i % 3]!;
          const res = await from.post(`/v1/conversations/${conv}/messages`, { body: text(`m${i}`) });
          expect(res.status).toBe(201);
        }
      }),
    );
    for (const d of devices) {
      const events = await d.waitForEvents(500);
      expect(seqsOf(events)).toEqual(range(1, 500));
      expect(new Set(events.map((f) => f.event.id)).size).toBe(500);
      // Each frame's cursor is distinct and the last one is the device's position.
      expect(new Set(events.map((f) => f.cursor)).size).toBe(500);
    }
  });

  it('a destroyed socket resumes with exactly the 200 it missed, then continues live', async () => {
    const [dan, eve] = await Promise.all([app.user('dan'), app.user('eve')]);
    const conv = await app.group(['dan', 'eve']);
    const first = await connect(dan.token);
    await eve.post(`/v1/conversations/${conv}/messages`, { body: text('before') });
    await first.waitForEvents(1);
    const cursor = first.lastCursor()!;
    first.destroy(); // no close frame
    for (let i = 0; i < 200; i++)
      await eve.post(`/v1/conversations/${conv}/messages`, { body: text(`missed ${i}`) });
    const second = await connect(dan.token, cursor);
    const replayed = await second.waitForEvents(200);
    expect(seqsOf(replayed)).toEqual(range(2, 201));
    await eve.post(`/v1/conversations/${conv}/messages`, { body: text('live') });
    const all = await second.waitForEvents(201);
    expect(seqsOf(all)).toEqual(range(2, 202));
    expect(all.at(-1)!.event.body).toEqual(text('live'));
  });

  it('resuming while others send loses nothing and repeats nothing (30 iterations)', async () => {
    const [fay, gus] = await Promise.all([app.user('fay'), app.user('gus')]);
    const conv = await app.group(['fay', 'gus']);
    let sent = 0;
    let sending = true;
    const sender = (async () => {
      while (sending) {
        await gus.post(`/v1/conversations/${conv}/messages`, { body: text(`r${sent}`) });
        sent++;
      }
    })();
    const probe = await connect(fay.token);
    for (let iteration = 0; iteration < 30; iteration++) {
      await waitFor(() => probe.events().length > iteration * 3);
      // Resume from a cursor some events back, while the sender keeps going.
      const events = probe.events();
      const from = events[Math.max(0, events.length - 1 - (iteration % 5))]!;
      const device = await connect(fay.token, from.cursor);
      const target = sent + 3;
      await waitFor(() => (device.events().at(-1)?.event.seq ?? 0) >= target);
      const seqs = seqsOf(device.events());
      expect(seqs).toEqual(range(from.event.seq + 1, seqs.at(-1)!));
      device.ws.terminate();
    }
    sending = false;
    await sender;
  });

  it('a send frame is answered by sent once committed; a repeat creates nothing and gets the same answer', async () => {
    const [hal] = await Promise.all([app.user('hal'), app.user('ivy')]);
    const conv = await app.group(['hal', 'ivy']);
    const socket = await connect(hal.token);
    const frame = { type: 'send', clientMsgId: 'c-1', conversationId: conv, body: text('hello') };
    socket.send(frame);
    const sent = await socket.waitFor((f) => f.type === 'sent');
    expect(sent).toMatchObject({ clientMsgId: 'c-1', seq: 1, duplicate: false });
    socket.send(frame);
    await waitFor(() => socket.frames.filter((f) => f.type === 'sent').length === 2);
    expect(socket.frames.filter((f) => f.type === 'sent')[1]).toEqual({ ...sent, duplicate: true });
    socket.send({ ...frame, body: text('other') });
    const reused = await socket.waitFor((f) => f.type === 'error');
    expect(reused).toMatchObject({ code: 'idempotency_key_reused', clientMsgId: 'c-1' });
    // The REST send with the same clientMsgId is the same message.
    const rest = await hal.post(`/v1/conversations/${conv}/messages`, {
      body: text('hello'),
      clientMsgId: 'c-1',
    });
    expect(rest.status).toBe(200);
    expect(rest.body.id).toBe(sent.id);
    const history = await app.api.get(`/v1/conversations/${conv}/messages`);
    expect(history.body.items).toHaveLength(1);
  });

  it('bad frames get error frames with clear codes and the connection stays usable', async () => {
    const jon = await app.user('jon');
    const conv = await app.group(['jon']);
    const other = await app.group(['ann']);
    const socket = await connect(jon.token);
    socket.ws.send('not json');
    socket.send({ type: 'teleport' });
    socket.send({ type: 'send', clientMsgId: 'x', conversationId: conv, body: { type: 'text' } });
    socket.send({ type: 'resume', cursor: 'forged' });
    socket.send({ type: 'send', clientMsgId: 'y', conversationId: other, body: text('intrude') });
    socket.send({ type: 'ping' });
    await socket.waitFor((f) => f.type === 'pong');
    await waitFor(() => socket.frames.filter((f) => f.type === 'error').length === 5);
    const codes = socket.frames.filter((f) => f.type === 'error').map((f) => f.code);
    expect(codes.sort()).toEqual(
      ['invalid_cursor', 'invalid_frame', 'invalid_frame', 'invalid_frame', 'not_member'].sort(),
    );
    expect(socket.ws.readyState).toBe(socket.ws.OPEN);
    expect((await app.api.get(`/v1/conversations/${other}/messages`)).body.items).toHaveLength(0);
  });
});

describe('membership, receipts and recall are live', () => {
  it('a removed member stops receiving at once; an added member receives from its join', async () => {
    const [kim, leo, max] = await Promise.all([app.user('kim'), app.user('leo'), app.user('max')]);
    const conv = await app.group(['kim', 'leo']);
    const leoSocket = await connect(leo.token);
    const maxSocket = await connect(max.token);
    await kim.post(`/v1/conversations/${conv}/messages`, { body: text('one') });
    await app.api.delete(`/v1/conversations/${conv}/members/leo`);
    await app.api.post(`/v1/conversations/${conv}/members`, { userIds: ['max'] });
    await kim.post(`/v1/conversations/${conv}/messages`, { body: text('two') });
    await maxSocket.waitForEvents(2);
    expect(maxSocket.events().map((f) => f.event.type)).toEqual(['member.added', 'message.created']);
    expect(maxSocket.events()[1]!.event.body).toEqual(text('two'));
    // Leo got the message before its removal and its own member.removed, then nothing.
    const leoEvents = leoSocket.events().map((f) => [f.event.type, f.event.seq]);
    expect(leoEvents).toEqual([
      ['message.created', 1],
      ['member.removed', 2],
    ]);
    // Resuming from the start shows the same: nothing after the removal.
    const again = await connect(leo.token, leoSocket.frames.find((f) => f.type === 'ready')!.cursor);
    await again.waitForEvents(2);
    await kim.post(`/v1/conversations/${conv}/messages`, { body: text('three') });
    await maxSocket.waitForEvents(3);
    expect(again.events()).toHaveLength(2);
  });

  it('receipts reach the sender live; a recall reaches online devices at once and offline ones on resume', async () => {
    const [nia, oli] = await Promise.all([app.user('nia'), app.user('oli')]);
    const conv = await app.group(['nia', 'oli']);
    const niaSocket = await connect(nia.token);
    const oliSocket = await connect(oli.token);
    const offline = await connect(oli.token);
    const readyCursor = offline.lastCursor()!;
    await offline.close();
    niaSocket.send({ type: 'send', clientMsgId: 'r-1', conversationId: conv, body: text('take back') });
    const sent = await niaSocket.waitFor((f) => f.type === 'sent');
    await oliSocket.waitForEvents(1);
    oliSocket.send({ type: 'receipt', conversationId: conv, readSeq: 1 });
    const receipt = await niaSocket.waitFor((f) => f.type === 'receipt.updated');
    expect(receipt.receipt).toEqual({ conversationId: conv, userId: 'oli', deliveredSeq: 1, readSeq: 1 });
    niaSocket.send({ type: 'recall', messageId: sent.id });
    const recalled = await oliSocket.waitFor(
      (f) => f.type === 'event' && f.event.type === 'message.recalled',
    );
    expect(recalled.event).toMatchObject({ messageId: sent.id, seq: 2 });
    const back = await connect(oli.token, readyCursor);
    const replayed = await back.waitForEvents(2);
    expect(replayed.map((f) => f.event.type)).toEqual(['message.created', 'message.recalled']);
    expect(replayed[0]!.event).toMatchObject({ recalled: true, body: null });
  });
});
