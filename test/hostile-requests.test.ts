// Invariant 5 for hostile requests: each refusal carries the code that says what is wrong — a token that is
// not valid yet, a path that climbs out of the page, a bad frame (with the send it belongs to), prototype keys
// (the same rule on REST, WebSocket and callbacks), a Gewechat message id that is not an integer. And the page
// defends itself: its security headers, no source maps, no stream held open by a HEAD.
import { connect } from 'node:net';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { client, createApp, startServer, type TestApp, type TestServer } from './harness.js';
import { TestSocket } from './realtime-socket.js';
import { ensureWebBuilt } from './web-build.js';

let server: TestServer;
let app: TestApp;
let conv: string;

beforeAll(async () => {
  ensureWebBuilt();
  server = await startServer();
  app = await createApp(server.url);
  conv = await app.group(['alice', 'bob']);
  expect((await app.api.put('/v1/callback-sources/open', { format: 'generic' })).status).toBe(201);
  expect((await app.api.put('/v1/callback-sources/wechat', { format: 'gewechat' })).status).toBe(201);
});
afterAll(() => server.stop());

/** A token signed with the app's own secret, with the claims given: only its times are wrong. */
async function tokenWith(claims: { iat?: number; nbf?: number }): Promise<string> {
  const secret = await server.oncely.services.apps.tokenSecret(app.appId);
  const now = Math.floor(Date.now() / 1000);
  const jwt = new SignJWT({ app: app.appId })
    .setProtectedHeader({ alg: 'HS256', kid: app.appId, typ: 'JWT' })
    .setSubject('alice')
    .setIssuedAt(claims.iat ?? now)
    .setExpirationTime(now + 7200);
  if (claims.nbf !== undefined) jwt.setNotBefore(claims.nbf);
  return jwt.sign(new TextEncoder().encode(secret));
}

/** The status line and body of a request sent as written, so the path reaches the server unnormalised. */
function rawGet(path: string): Promise<{ status: number; body: string }> {
  const { port } = new URL(server.url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), '127.0.0.1', () =>
      socket.write(`GET ${path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`),
    );
    let data = '';
    socket.on('data', (chunk) => (data += chunk.toString()));
    socket.on('error', reject);
    socket.on('end', () =>
      resolve({ status: Number(data.split(' ')[1]), body: data.slice(data.indexOf('\r\n\r\n') + 4) }),
    );
  });
}

async function rejectionReasons(sourceId: string): Promise<string[]> {
  const res = await app.api.get(`/v1/callback-sources/${sourceId}/rejections`);
  return res.body.items.map((r: { reason: string }) => r.reason);
}

const callback = (sourceId: string, body: string) =>
  client(server.url).post(`/v1/apps/${app.appId}/callbacks/${sourceId}`, body);

describe('tokens not valid yet', () => {
  it('a token whose nbf is in the future is 401 token_not_yet_valid, not an invalid signature', async () => {
    const token = await tokenWith({ nbf: Math.floor(Date.now() / 1000) + 3600 });
    const res = await client(server.url, token).get('/v1/me/conversations');
    expect(res.status).toBe(401);
    expect(res.body.error.code).toBe('token_not_yet_valid');
  });

  it('a token issued an hour ahead is token_not_yet_valid; a second ahead (clock skew) is accepted', async () => {
    const now = Math.floor(Date.now() / 1000);
    const ahead = await client(server.url, await tokenWith({ iat: now + 3600 })).get('/v1/me/conversations');
    expect(ahead.status).toBe(401);
    expect(ahead.body.error.code).toBe('token_not_yet_valid');
    const skewed = await client(server.url, await tokenWith({ iat: now + 1 })).get('/v1/me/conversations');
    expect(skewed.status).toBe(200);
  });

  it('the WebSocket refuses it with the same code', async () => {
    const token = await tokenWith({ nbf: Math.floor(Date.now() / 1000) + 3600 });
    const ws = await TestSocket.open(server.url, token);
    const error = await ws.waitFor((f) => f.type === 'error');
    expect(error.code).toBe('token_not_yet_valid');
    await ws.closed;
  });
});

describe('paths that climb out of the page', () => {
  const climbing = [
    '/../package.json',
    '/assets/../../package.json',
    '/%2e%2e/package.json',
    '/assets/%2e%2e%2f%2e%2e%2fpackage.json',
    '/..%5cpackage.json',
    '/.%2e/src/config.ts',
    '/assets/..;/..;/package.json',
  ];

  it.each(climbing)('%s is 404 route_not_found and serves no file', async (path) => {
    const res = await rawGet(path);
    expect(res.status).toBe(404);
    expect(JSON.parse(res.body).error.code).toBe('route_not_found');
  });

  it('an overlong UTF-8 dot is invalid_url; a target without its leading slash is malformed_request', async () => {
    const overlong = await rawGet('/%c0%ae%c0%ae/package.json');
    expect([overlong.status, JSON.parse(overlong.body).error.code]).toEqual([400, 'invalid_url']);
    const relative = await rawGet('../package.json');
    expect([relative.status, JSON.parse(relative.body).error.code]).toEqual([400, 'malformed_request']);
  });
});

describe('WebSocket frames', () => {
  it('invalid_frame echoes the clientMsgId of the send it refuses', async () => {
    const alice = await app.user('alice');
    const ws = await TestSocket.connect(server.url, alice.token);
    ws.send({ type: 'send', clientMsgId: 'no-body', conversationId: conv });
    const error = await ws.waitFor((f) => f.type === 'error');
    expect(error).toMatchObject({ code: 'invalid_frame', clientMsgId: 'no-body' });
    ws.ws.send('{"type":"nonsense"}');
    const second = await ws.waitFor((f) => f.type === 'error' && f !== error);
    expect(second.code).toBe('invalid_frame');
    expect(second.clientMsgId).toBeUndefined();
    await ws.close();
  });
});

describe('prototype keys in custom data', () => {
  const keys: Array<[string, string]> = [
    ['__proto__', '{"__proto__":{"admin":true}}'],
    ['constructor.prototype', '{"constructor":{"prototype":{"admin":true}}}'],
    ['an escaped __proto__', '{"\\u005f_proto__":{"admin":true}}'],
  ];

  it.each(keys)('%s is refused on REST, WebSocket and callbacks alike', async (name, data) => {
    const body = `{"type":"custom","data":${data}}`;
    const rest = await app.api.post(`/v1/conversations/${conv}/messages`, `{"from":"alice","body":${body}}`);
    expect(rest.status).toBe(400);
    expect(rest.body.error.code).toBe('invalid_json');
    expect(rest.body.error.message).toContain('"__proto__" key');

    const alice = await app.user('alice');
    const ws = await TestSocket.connect(server.url, alice.token);
    ws.ws.send(`{"type":"send","clientMsgId":"proto-ws","conversationId":"${conv}","body":${body}}`);
    const error = await ws.waitFor((f) => f.type === 'error');
    expect(error).toMatchObject({ code: 'invalid_frame', clientMsgId: 'proto-ws' });
    expect(error.message).toContain('"__proto__" key');
    await ws.close();

    const msgId = `proto-${name.length}`;
    const cb = await callback(
      'open',
      `{"msgId":"${msgId}","from":"proto_from","to":"proto_to","timestamp":1,"content":${data}}`,
    );
    expect(cb.status).toBe(400);
    expect(cb.body.error.code).toBe('invalid_payload');
    expect(cb.body.error.message).toContain('"__proto__" key');
    expect((await app.api.get('/v1/users/proto_from')).status).toBe(404);
    const history = await app.api.get(`/v1/conversations/${conv}/messages`);
    expect(JSON.stringify(history.body)).not.toContain('admin');
  });

  it('a plain "constructor" key is data like any other, on all three', async () => {
    const data = '{"constructor":"a word","prototype":1}';
    const body = `{"type":"custom","data":${data}}`;
    const rest = await app.api.post(`/v1/conversations/${conv}/messages`, `{"from":"alice","body":${body}}`);
    expect(rest.status).toBe(201);
    const alice = await app.user('alice');
    const ws = await TestSocket.connect(server.url, alice.token);
    ws.ws.send(`{"type":"send","clientMsgId":"ctor-ws","conversationId":"${conv}","body":${body}}`);
    await ws.waitFor((f) => f.type === 'sent' && f.clientMsgId === 'ctor-ws');
    await ws.close();
    const cb = await callback('open', `{"msgId":"ctor","from":"ctor_a","to":"ctor_b","content":${data}}`);
    expect(cb.status).toBe(200);
  });

  it('refused callbacks are kept under rejections', async () => {
    expect((await rejectionReasons('open')).filter((r) => r === 'invalid_payload')).toHaveLength(3);
  });
});

describe('Gewechat NewMsgId', () => {
  const addMsg = (newMsgId: string, from: string) =>
    `{"TypeName":"AddMsg","Data":{"FromUserName":{"string":"${from}"},"ToUserName":{"string":"wxid_me"},` +
    `"MsgType":1,"Content":{"string":"hi"},"CreateTime":1705043418,"NewMsgId":${newMsgId}}}`;

  it.each(['1234567890123456807.0', '1.5', '12345678901234567890123', '"abc"', '-3'])(
    'NewMsgId %s is 400 invalid_payload, kept under rejections, and creates no users',
    async (newMsgId) => {
      const from = `wxid_${Buffer.from(newMsgId).toString('hex').slice(0, 20)}`;
      const before = (await rejectionReasons('wechat')).length;
      const res = await callback('wechat', addMsg(newMsgId, from));
      expect(res.status).toBe(400);
      expect(res.body.error).toMatchObject({ code: 'invalid_payload' });
      expect(res.body.error.message).toContain('NewMsgId must be a non-negative integer');
      expect(await rejectionReasons('wechat')).toHaveLength(before + 1);
      expect((await app.api.get(`/v1/users/${from}`)).status).toBe(404);
    },
  );

  it('an integer past 2^53 keeps its digits', async () => {
    const res = await callback('wechat', addMsg('1234567890123456807', 'wxid_big'));
    expect(res.status).toBe(200);
  });
});

describe('the page and the streams', () => {
  it('the page forbids framing, inline code and other origins; every answer says nosniff', async () => {
    const page = await fetch(`${server.url}/`);
    expect(page.status).toBe(200);
    const csp = page.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("script-src 'self'");
    expect(page.headers.get('x-frame-options')).toBe('DENY');
    expect(page.headers.get('x-content-type-options')).toBe('nosniff');
    const api = await fetch(`${server.url}/healthz`);
    expect(api.headers.get('x-content-type-options')).toBe('nosniff');
    const refused = await fetch(`${server.url}/v1/me`);
    expect(refused.status).toBe(401);
    expect(refused.headers.get('x-content-type-options')).toBe('nosniff');
  });

  it('serves the scripts but not their source maps', async () => {
    const html = await (await fetch(`${server.url}/`)).text();
    const script = /src="(\/assets\/[^"]+\.js)"/.exec(html)?.[1];
    expect(script).toBeDefined();
    const served = await fetch(server.url + script!);
    expect(served.status).toBe(200);
    // The bundle names no map either, so a browser's developer tools ask for nothing.
    expect(await served.text()).not.toContain('sourceMappingURL');
    const map = await client(server.url).get(`${script!}.map`);
    expect(map.status).toBe(404);
    expect(map.body.error.code).toBe('route_not_found');
  });

  it('a HEAD of /v1/events or /v1/sync is 405 at once, holding no connection', async () => {
    const alice = await app.user('alice');
    for (const path of ['/v1/events', '/v1/sync']) {
      const res = await fetch(`${server.url}${path}`, {
        method: 'HEAD',
        headers: { authorization: `Bearer ${alice.token}` },
      });
      expect(res.status).toBe(405);
      expect(res.headers.get('allow')).toBe('GET');
    }
    const byQuery = await fetch(`${server.url}/v1/events?token=${alice.token}`, { method: 'HEAD' });
    expect(byQuery.status).toBe(405);
  });
});
