// Every refusal is {"error":{"code","message"}}: also those made before any handler runs — by the router
// (a malformed URL, a path parameter over the limit), the body parsers, the body limit, Node's HTTP parser,
// the WebSocket upgrade, and a shutting-down instance — each found on the wire with a raw socket.
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, startServer, text, type TestApp, type TestServer } from './harness.js';

const bodyLimit = 4096;

interface RawAnswer {
  status: number;
  headers: Record<string, string>;
  body: any;
}

/** Sends `request` as bytes on a fresh connection; the answer, read until the server closes. */
async function raw(server: TestServer, request: string): Promise<RawAnswer> {
  const { port } = new URL(server.url);
  const bytes = await new Promise<string>((resolve, reject) => {
    const socket = connect(Number(port), '127.0.0.1', () => socket.write(request));
    let out = '';
    socket.on('data', (d) => (out += d.toString()));
    socket.on('error', reject);
    socket.on('close', () => resolve(out));
  });
  const [head = '', ...rest] = bytes.split('\r\n\r\n');
  const [statusLine = '', ...lines] = head.split('\r\n');
  const headers = Object.fromEntries(
    lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]),
  );
  const text = rest.join('\r\n\r\n');
  return { status: Number(statusLine.split(' ')[1]), headers, body: text ? JSON.parse(text) : undefined };
}

const get = (path: string, extra = '') =>
  `GET ${path} HTTP/1.1\r\nHost: x\r\n${extra}Connection: close\r\n\r\n`;
const upgrade = (path: string, extra: string, method = 'GET') =>
  `${method} ${path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n${extra}\r\n`;
const wsKey = 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n';

function expectShape(answer: RawAnswer, status: number, code: string): void {
  expect(answer.status).toBe(status);
  expect(answer.headers['content-type']).toMatch(/^application\/json/);
  expect(answer.body).toEqual({ error: { code, message: expect.any(String) } });
  expect(answer.body.error.message.length).toBeGreaterThan(10);
}

let server: TestServer;
let app: TestApp;
beforeAll(async () => {
  server = await startServer({ ONCELY_BODY_LIMIT_BYTES: String(bodyLimit) });
  app = await createApp(server.url);
});
afterAll(() => server.stop());

describe('the router', () => {
  it('a malformed percent-encoding in the path is 400 invalid_url', async () => {
    expectShape(await raw(server, get('/v1/messages/%00%ff')), 400, 'invalid_url');
  });

  it('a path parameter over the router limit is 414 path_parameter_too_long, on GET and POST routes', async () => {
    expectShape(await raw(server, get(`/v1/messages/${'a'.repeat(600)}`)), 414, 'path_parameter_too_long');
    const post = `POST /v1/apps/a/callbacks/${'b'.repeat(600)} HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}`;
    expectShape(await raw(server, post), 414, 'path_parameter_too_long');
  });

  it('a path parameter under the router limit but over the id limit gets the schema 400', async () => {
    const answer = await app.api.get(`/v1/messages/${'a'.repeat(300)}`);
    expect(answer.status).toBe(400);
    expect(answer.body.error).toEqual({
      code: 'invalid_request',
      message: 'params/messageId must NOT have more than 128 characters',
    });
  });

  it('an unknown path is 404 route_not_found, also where the page is served', async () => {
    expectShape(await raw(server, get('/v1/nothing-here')), 404, 'route_not_found');
    expectShape(await raw(server, get('/no-such-file.js')), 404, 'route_not_found');
  });
});

describe('bodies', () => {
  const post = (contentType: string, body: string, length = Buffer.byteLength(body)) =>
    `POST /v1/apps HTTP/1.1\r\nHost: x\r\nContent-Type: ${contentType}\r\nContent-Length: ${length}\r\nConnection: close\r\n\r\n${body}`;

  it('a body that is not JSON is 400 invalid_json', async () => {
    expectShape(await raw(server, post('application/json', '{"name":')), 400, 'invalid_json');
  });

  it('a __proto__ key is 400 invalid_json', async () => {
    expectShape(await raw(server, post('application/json', '{"__proto__":{"x":1}}')), 400, 'invalid_json');
  });

  it('a body that is not JSON by its content type is 415 unsupported_media_type', async () => {
    const answer = await raw(server, post('text/plain', 'name=x'));
    expectShape(answer, 415, 'unsupported_media_type');
    expect(answer.body.error.message).toContain('application/json');
  });

  it('a body over the limit is 413 body_too_large, also on the callback endpoint and its raw parser', async () => {
    expectShape(await raw(server, post('application/json', '{}', bodyLimit + 1)), 413, 'body_too_large');
    const callback = `POST /v1/apps/${app.appId}/callbacks/src HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${bodyLimit + 1}\r\nConnection: close\r\n\r\n`;
    expectShape(await raw(server, callback), 413, 'body_too_large');
  });

  it('a body shorter than its Content-Length, cut off by the client, is 400 malformed_request', async () => {
    const { port } = new URL(server.url);
    const bytes = await new Promise<string>((resolve) => {
      const socket = connect(Number(port), '127.0.0.1', () => socket.end(post('application/json', '{}', 10)));
      let out = '';
      socket.on('data', (d) => (out += d.toString()));
      socket.on('close', () => resolve(out));
    });
    expect(bytes).toMatch(/^HTTP\/1.1 400 /);
    expect(JSON.parse(bytes.split('\r\n\r\n')[1]!).error.code).toBe('malformed_request');
  });
});

describe("Node's HTTP parser", () => {
  it('a request that is not HTTP is 400 malformed_request', async () => {
    expectShape(await raw(server, 'HELLO THERE\r\n\r\n'), 400, 'malformed_request');
  });

  it('headers over the limit are 431 headers_too_large', async () => {
    expectShape(
      await raw(server, get('/healthz', `X-Big: ${'a'.repeat(20_000)}\r\n`)),
      431,
      'headers_too_large',
    );
  });
});

describe('the WebSocket upgrade', () => {
  it('an upgrade to another path is 404 route_not_found naming the endpoint', async () => {
    const answer = await raw(server, upgrade('/v1/sockets', `${wsKey}Sec-WebSocket-Version: 13\r\n`));
    expectShape(answer, 404, 'route_not_found');
    expect(answer.body.error.message).toContain('/v1/ws');
  });

  it('a handshake without a key is 400 invalid_websocket_handshake', async () => {
    expectShape(
      await raw(server, upgrade('/v1/ws', 'Sec-WebSocket-Version: 13\r\n')),
      400,
      'invalid_websocket_handshake',
    );
  });

  it('an unsupported protocol version is 400 and names the supported ones', async () => {
    const answer = await raw(server, upgrade('/v1/ws', `${wsKey}Sec-WebSocket-Version: 7\r\n`));
    expectShape(answer, 400, 'invalid_websocket_handshake');
    expect(answer.headers['sec-websocket-version']).toBe('13, 8');
  });

  it('an upgrade by POST is 405 method_not_allowed and says to use GET', async () => {
    const answer = await raw(server, upgrade('/v1/ws', `${wsKey}Sec-WebSocket-Version: 13\r\n`, 'POST'));
    expectShape(answer, 405, 'method_not_allowed');
    expect(answer.headers.allow).toBe('GET');
  });
});

describe('an instance shutting down', () => {
  it('answers 503 shutting_down with Retry-After, on HTTP and on the WebSocket upgrade', async () => {
    const closing = await startServer();
    try {
      closing.oncely.http.beginClose();
      const answer = await raw(closing, get('/v1/me'));
      expectShape(answer, 503, 'shutting_down');
      expect(answer.headers['retry-after']).toBe('1');
    } finally {
      await closing.stop();
    }
  });
});

describe('validation messages say what is expected', () => {
  let conv: string;
  beforeAll(async () => {
    await app.user('alice');
    await app.user('bob');
    conv = await app.group(['alice', 'bob']);
  });
  const send = (body: unknown) => app.api.post(`/v1/conversations/${conv}/messages`, { from: 'alice', body });
  const messageOf = async (p: Promise<{ status: number; body: any }>) => {
    const answer = await p;
    expect(answer.status).toBe(400);
    expect(answer.body.error.code).toBe('invalid_request');
    return answer.body.error.message as string;
  };

  it('a body that is not a message body shows both shapes', async () => {
    const shapes = 'a message body: {"type":"text","text":"…"} or {"type":"custom","data":…}';
    expect(await messageOf(send('hello'))).toBe(`body/body must be ${shapes}`);
    expect(await messageOf(send({ type: 'image', url: 'x' }))).toBe(`body/body must be ${shapes}`);
  });

  it("a body of a known type names that type's own problem", async () => {
    expect(await messageOf(send({ type: 'text' }))).toBe('body/body must have the property "text"');
    expect(await messageOf(send({ type: 'text', text: '' }))).toBe('body/body/text must not be empty');
    expect(await messageOf(send({ type: 'text', text: 'x', html: '<b>' }))).toBe(
      'body/body has an unknown property "html"; it takes type, text',
    );
  });

  it('an unknown kind lists the allowed values', async () => {
    expect(await messageOf(app.api.post('/v1/conversations', { kind: 'channel', members: ['alice'] }))).toBe(
      'body/kind must be "direct" or "group"',
    );
  });

  it('an unknown property names the ones the request takes', async () => {
    expect(
      await messageOf(
        app.api.post(`/v1/conversations/${conv}/messages`, { from: 'alice', body: text('x'), to: 'bob' }),
      ),
    ).toBe('body has an unknown property "to"; it takes from, body, clientMsgId');
  });
});
