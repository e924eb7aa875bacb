import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminToken, client, createApp, startServer, type TestApp, type TestServer } from './harness.js';
import { signedHeaders } from './signed-webhook.js';

let server: TestServer;
let app: TestApp;

const newSecret = () => `whsec_${randomBytes(24).toString('base64')}`;

async function source(id: string, format: 'generic' | 'gewechat', secret?: string | string[]) {
  const res = await app.api.put(
    `/v1/callback-sources/${id}`,
    secret === undefined ? { format } : { format, secret },
  );
  expect(res.status).toBe(201);
  return res.body;
}

async function callback(sourceId: string, body: string, headers: Record<string, string>) {
  return client(server.url).post(`/v1/apps/${app.appId}/callbacks/${sourceId}`, body, headers);
}

/** Rows of this app's events, counted in the database. */
async function eventCount(): Promise<number> {
  const row = await server.oncely.services.store.db
    .selectFrom('events')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('app_id', '=', app.appId)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

async function metric(name: string, labels: Record<string, string>): Promise<number> {
  const text = (await client(server.url, adminToken).get<string>('/metrics')).body;
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && want.every((w) => l.includes(w)));
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0;
}

const generic = (msgId: string, content = 'Hello!', extra: Record<string, unknown> = {}) =>
  JSON.stringify({ msgId, from: 'user_123', to: 'user_456', timestamp: 1730000000000, content, ...extra });

// The AddMsg shape of seed 003 (gewechat), with a NewMsgId beyond 2^53.
const gewechat = (newMsgId: string, content = '你好，在吗？') =>
  `{"TypeName":"AddMsg","Appid":"wx_demo","Wxid":"wxid_receiver01","Data":{"MsgId":1040356095,` +
  `"FromUserName":{"string":"wxid_sender01"},"ToUserName":{"string":"wxid_receiver01"},"MsgType":1,` +
  `"Content":{"string":"${content}"},"Status":3,"ImgStatus":1,"ImgBuf":{"iLen":0},"CreateTime":1705043418,` +
  `"MsgSource":"<msgsource></msgsource>","PushContent":"sender : ${content}","NewMsgId":${newMsgId},"MsgSeq":640356095}}`;

beforeAll(async () => {
  server = await startServer();
  app = await createApp(server.url);
});
afterAll(() => server.stop());

describe('callback signatures', () => {
  const secret = newSecret();
  beforeAll(() => source('signed', 'generic', secret));

  it('a body signed by the standardwebhooks package is accepted and stored once', async () => {
    const body = generic('sig-ok');
    const res = await callback('signed', body, signedHeaders(secret, body));
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ status: 'ok', seq: 1 });
    const history = await app.api.get(`/v1/conversations/${res.body.conversationId}/messages`);
    expect(history.body.items).toHaveLength(1);
    expect(history.body.items[0]).toMatchObject({
      id: res.body.messageId,
      senderId: 'user_123',
      body: { type: 'text', text: 'Hello!' },
    });
  });

  it('tampered body, wrong secret, missing headers, stale and future timestamps are 401 and store nothing', async () => {
    const before = await eventCount();
    const body = generic('sig-bad');
    const cases: Array<[Record<string, string>, string, string]> = [
      [signedHeaders(secret, body), generic('sig-bad', 'Hello?'), 'invalid_signature'],
      [signedHeaders(newSecret(), body), body, 'invalid_signature'],
      [{ 'content-type': 'application/json' }, body, 'invalid_signature'],
      [{ ...signedHeaders(secret, body), 'webhook-signature': '' }, body, 'invalid_signature'],
      [
        signedHeaders(secret, body, { at: new Date(Date.now() - 6 * 60_000) }),
        body,
        'timestamp_out_of_tolerance',
      ],
      [
        signedHeaders(secret, body, { at: new Date(Date.now() + 6 * 60_000) }),
        body,
        'timestamp_out_of_tolerance',
      ],
    ];
    for (const [headers, sent, code] of cases) {
      const res = await callback('signed', sent, headers);
      expect(res.status).toBe(401);
      expect(res.body.error.code).toBe(code);
    }
    expect(await eventCount()).toBe(before);
    const key = await app.api.get('/v1/idempotency-keys/sig-bad?scope=source:signed');
    expect(key.status).toBe(404);
    const rejections = await app.api.get('/v1/callback-sources/signed/rejections');
    expect(rejections.body.items).toEqual([]);
    expect(
      await metric('oncely_callbacks_rejected_total', { source: 'signed', reason: 'invalid_signature' }),
    ).toBe(4);
    expect(
      await metric('oncely_callbacks_rejected_total', {
        source: 'signed',
        reason: 'timestamp_out_of_tolerance',
      }),
    ).toBe(2);
  });

  it('every secret of a rotating source is accepted, and none is answered in full', async () => {
    const [oldSecret, nextSecret] = [newSecret(), newSecret()];
    const view = await source('rotating', 'generic', [oldSecret, nextSecret]);
    expect(view.secrets).toHaveLength(2);
    expect(JSON.stringify(view)).not.toContain(oldSecret.slice(6, 20));
    for (const [i, s] of [oldSecret, nextSecret].entries()) {
      const body = generic(`rot-${i}`);
      expect((await callback('rotating', body, signedHeaders(s, body))).status).toBe(200);
    }
    // Dropping the old secret ends its validity at once.
    expect(
      (await app.api.put('/v1/callback-sources/rotating', { format: 'generic', secret: nextSecret })).status,
    ).toBe(200);
    const body = generic('rot-late');
    expect((await callback('rotating', body, signedHeaders(oldSecret, body))).body.error.code).toBe(
      'invalid_signature',
    );
  });

  it('a callback for an unknown source is 404', async () => {
    const res = await callback('nope', generic('x'), { 'content-type': 'application/json' });
    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe('callback_source_not_found');
  });
});

describe('callback dedup', () => {
  const secret = newSecret();
  beforeAll(() => source('dedup', 'generic', secret));

  it('the same callback 20 times in parallel creates one message and 19 duplicates, and the metrics agree', async () => {
    const body = generic('storm-1', 'once');
    const headers = signedHeaders(secret, body);
    const answers = await Promise.all(Array.from({ length: 20 }, () => callback('dedup', body, headers)));
    expect(answers.every((a) => a.status === 200)).toBe(true);
    const ok = answers.filter((a) => a.body.status === 'ok');
    const dup = answers.filter((a) => a.body.status === 'ignored' && a.body.reason === 'duplicate');
    expect(ok).toHaveLength(1);
    expect(dup).toHaveLength(19);
    expect(new Set(answers.map((a) => a.body.messageId))).toEqual(new Set([ok[0]!.body.messageId]));
    expect(dup.every((a) => a.body.conflict === undefined)).toBe(true);
    const history = await app.api.get(`/v1/conversations/${ok[0]!.body.conversationId}/messages`);
    expect(
      history.body.items.filter((e: { body: { text?: string } }) => e.body.text === 'once'),
    ).toHaveLength(1);
    expect(await metric('oncely_callbacks_received_total', { source: 'dedup' })).toBe(20);
    expect(await metric('oncely_callbacks_duplicate_total', { source: 'dedup' })).toBe(19);
    expect(await metric('oncely_callbacks_conflict_total', { source: 'dedup' })).toBe(0);
  });

  it('the same msgId with another content is ignored with conflict:true, the first content kept and the conflict listed', async () => {
    const first = generic('conflict-1', 'first');
    const created = await callback('dedup', first, signedHeaders(secret, first));
    expect(created.body.status).toBe('ok');
    const other = generic('conflict-1', 'second');
    const res = await callback('dedup', other, signedHeaders(secret, other));
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      status: 'ignored',
      reason: 'duplicate',
      messageId: created.body.messageId,
      conflict: true,
    });
    const message = await app.api.get(`/v1/messages/${created.body.messageId}`);
    expect(message.body.body.text).toBe('first');
    const rejections = await app.api.get('/v1/callback-sources/dedup/rejections');
    const listed = rejections.body.items.find((r: { msgId: string }) => r.msgId === 'conflict-1');
    expect(listed).toMatchObject({ reason: 'conflict', messageId: created.body.messageId });
    expect(JSON.parse(listed.payload).content).toBe('second');
    expect(await metric('oncely_callbacks_conflict_total', { source: 'dedup' })).toBe(1);
  });

  it('a sender removed from a group since its last callback is added again on its next one', async () => {
    const send = (msgId: string) => {
      const body = generic(msgId, `in group ${msgId}`, { conversationId: 'cb-group' });
      return callback('dedup', body, signedHeaders(secret, body));
    };
    expect((await send('grp-1')).body).toMatchObject({ status: 'ok', conversationId: 'cb-group' });
    expect((await app.api.delete('/v1/conversations/cb-group/members/user_123')).status).toBe(200);
    expect((await send('grp-2')).body).toMatchObject({ status: 'ok', conversationId: 'cb-group' });
    const conv = await app.api.get('/v1/conversations/cb-group');
    expect(conv.body.members).toContain('user_123');
  });

  it('the record of a callback msgId is readable under scope source:{sourceId}', async () => {
    const body = generic('history-1');
    const res = await callback('dedup', body, signedHeaders(secret, body));
    const record = await app.api.get('/v1/idempotency-keys/history-1?scope=source:dedup');
    expect(record.status).toBe(200);
    expect(record.body).toMatchObject({
      key: 'history-1',
      scope: 'source:dedup',
      state: 'completed',
      result: { id: res.body.messageId },
    });
    expect((await app.api.get('/v1/idempotency-keys/history-1')).status).toBe(404);
  });
});

describe('malformed callbacks', () => {
  beforeAll(() => source('loose', 'generic'));

  it('bad JSON and missing fields are 400 invalid_payload, kept under rejections with the reason', async () => {
    const before = await eventCount();
    const bad = [
      '{"msgId": "m1", "from": ',
      JSON.stringify({ msgId: 'm2', to: 'user_456', content: 'x' }),
      '[1,2]',
    ];
    for (const body of bad) {
      const res = await callback('loose', body, { 'content-type': 'application/json' });
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe('invalid_payload');
    }
    expect(await eventCount()).toBe(before);
    const rejections = await app.api.get('/v1/callback-sources/loose/rejections');
    expect(rejections.body.items.map((r: { payload: string }) => r.payload)).toEqual([...bad].reverse());
    expect(
      rejections.body.items.every(
        (r: { reason: string; message: string }) => r.reason === 'invalid_payload' && r.message.length > 0,
      ),
    ).toBe(true);
    expect(rejections.body.items[1].message).toContain('from');
    expect(
      await metric('oncely_callbacks_rejected_total', { source: 'loose', reason: 'invalid_payload' }),
    ).toBe(3);
  });

  it('an unsigned source accepts unsigned callbacks', async () => {
    const res = await callback('loose', generic('unsigned-1'), { 'content-type': 'application/json' });
    expect(res.body.status).toBe('ok');
  });
});

describe('gewechat callbacks', () => {
  const secret = newSecret();
  beforeAll(() => source('gw', 'gewechat', secret));

  it('the seed 003 sample is stored with its sender, receiver, text and time', async () => {
    const body = gewechat('7773749793478223190');
    const res = await callback('gw', body, signedHeaders(secret, body));
    expect(res.body.status).toBe('ok');
    const conv = await app.api.get(`/v1/conversations/${res.body.conversationId}`);
    expect(conv.body).toMatchObject({ kind: 'direct' });
    expect([...conv.body.members].sort()).toEqual(['wxid_receiver01', 'wxid_sender01']);
    const message = await app.api.get(`/v1/messages/${res.body.messageId}`);
    expect(message.body.senderId).toBe('wxid_sender01');
    expect(message.body.body).toMatchObject({
      type: 'text',
      text: '你好，在吗？',
      origin: {
        sourceId: 'gw',
        msgId: '7773749793478223190',
        sentAt: new Date(1705043418 * 1000).toISOString(),
      },
    });
    const record = await app.api.get('/v1/idempotency-keys/7773749793478223190?scope=source:gw');
    expect(record.body.result.id).toBe(res.body.messageId);
  });

  it('two NewMsgIds that differ only past 2^53 are two messages', async () => {
    // Both round to the same double: 9007199254740993 and 9007199254740992.
    expect(Number('9007199254740993')).toBe(Number('9007199254740992'));
    const a = gewechat('9007199254740993', 'a');
    const b = gewechat('9007199254740992', 'b');
    const ra = await callback('gw', a, signedHeaders(secret, a));
    const rb = await callback('gw', b, signedHeaders(secret, b));
    expect([ra.body.status, rb.body.status]).toEqual(['ok', 'ok']);
    expect(ra.body.messageId).not.toBe(rb.body.messageId);
    const record = await app.api.get('/v1/idempotency-keys/9007199254740993?scope=source:gw');
    expect(record.body.result.id).toBe(ra.body.messageId);
  });

  it('a chat room message lands in the group of the room, sent by the prefixed member', async () => {
    const body = JSON.stringify({
      TypeName: 'AddMsg',
      Appid: 'wx_demo',
      Wxid: 'wxid_receiver01',
      Data: {
        NewMsgId: '5551234567890123456',
        FromUserName: { string: '34757816141@chatroom' },
        ToUserName: { string: 'wxid_receiver01' },
        MsgType: 1,
        Content: { string: 'wxid_member07:\n大家好' },
        CreateTime: 1705043500,
      },
    });
    const res = await callback('gw', body, signedHeaders(secret, body));
    expect(res.body).toMatchObject({ status: 'ok', conversationId: '34757816141@chatroom' });
    const conv = await app.api.get('/v1/conversations/34757816141@chatroom');
    expect(conv.body.kind).toBe('group');
    expect([...conv.body.members].sort()).toEqual(['wxid_member07', 'wxid_receiver01']);
    const message = await app.api.get(`/v1/messages/${res.body.messageId}`);
    expect(message.body).toMatchObject({ senderId: 'wxid_member07', body: { text: '大家好' } });
  });

  it('a type other than AddMsg is answered 200 ignored with a reason and counted', async () => {
    const body = JSON.stringify({ TypeName: 'ModContacts', Appid: 'wx_demo', Data: {} });
    const res = await callback('gw', body, signedHeaders(secret, body));
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ status: 'ignored', reason: 'unsupported_type' });
    expect(await metric('oncely_callbacks_ignored_total', { source: 'gw', reason: 'unsupported_type' })).toBe(
      1,
    );
  });
});
