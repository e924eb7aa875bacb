// Invariant 5: bad input of every kind gets the documented 4xx and error code, never a 5xx; afterwards the
// server still serves and not a row was written by any of it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SignJWT, UnsecuredJWT } from 'jose';
import { ManualClock } from '../src/clock.js';
import {
  adminToken,
  client,
  createApp,
  startServer,
  text,
  type ApiResponse,
  type Client,
  type TestServer,
} from './harness.js';

const bodyLimit = 8192;
const messageMax = 1024;

let server: TestServer;
const clock = new ManualClock();
let ctx: {
  api: Client;
  alice: Client & { token: string };
  carol: Client & { token: string };
  otherAppUser: Client & { token: string };
  expired: Client;
  anonymous: Client;
  admin: Client;
  appId: string;
  conv: string;
  direct: string;
  messageId: string;
  raw(headers: Record<string, string>): Client;
};

beforeAll(async () => {
  server = await startServer(
    { ONCELY_BODY_LIMIT_BYTES: String(bodyLimit), ONCELY_MESSAGE_MAX_BYTES: String(messageMax) },
    { clock },
  );
  const a = await createApp(server.url, 'a');
  const b = await createApp(server.url, 'b');
  const alice = await a.user('alice');
  await a.user('bob');
  const carol = await a.user('carol');
  const conv = await a.group(['alice', 'bob']);
  const direct = await a.api.post('/v1/conversations', { kind: 'direct', members: ['alice', 'carol'] });
  const sent = await a.api.post(
    `/v1/conversations/${conv}/messages`,
    { from: 'alice', body: text('hello') },
    { 'idempotency-key': 'k1' },
  );
  expect(sent.status).toBe(201);
  // A token that expires: issued for 60 s, then the clock moves past it.
  const short = await a.api.post('/v1/users/alice/tokens', { ttlSeconds: 60 });
  clock.advance(61_000);
  ctx = {
    api: a.api,
    alice,
    carol,
    otherAppUser: await b.user('zed'),
    expired: client(server.url, short.body.token),
    anonymous: client(server.url),
    admin: client(server.url, adminToken),
    appId: a.appId,
    conv,
    direct: direct.body.id,
    messageId: sent.body.id,
    raw: (headers) => {
      const c = client(server.url);
      return {
        ...c,
        call: (method, path, body, h = {}) => c.call(method, path, body, { ...headers, ...h }),
      } as Client;
    },
  };
});
afterAll(() => server.stop());

interface Case {
  name: string;
  run(): Promise<ApiResponse>;
  status: number;
  code: string;
}

const msgs = () => `/v1/conversations/${ctx.conv}/messages`;
const send = (body: unknown, headers?: Record<string, string>) => ctx.api.post(msgs(), body, headers);
const asJson = (raw: string) => ctx.api.call('POST', msgs(), raw);

async function forgedToken(
  mutate: 'signature' | 'other-secret' | 'alg-none' | 'foreign-kid',
): Promise<string> {
  const [header, payload, signature] = ctx.alice.token.split('.') as [string, string, string];
  if (mutate === 'signature') {
    const flipped = signature.slice(0, -2) + (signature.endsWith('AA') ? 'BB' : 'AA');
    return `${header}.${payload}.${flipped}`;
  }
  const now = Math.floor(clock.now() / 1000);
  if (mutate === 'alg-none') {
    const unsigned = new UnsecuredJWT({ app: ctx.appId })
      .setSubject('alice')
      .setIssuedAt(now)
      .setExpirationTime(now + 600)
      .encode();
    // The kid names the real app, so only the alg stands between this token and alice's data.
    const body = unsigned.split('.')[1];
    const h = Buffer.from(JSON.stringify({ alg: 'none', kid: ctx.appId, typ: 'JWT' })).toString('base64url');
    return `${h}.${body}.`;
  }
  // Signed by a secret that is not the app's (other-secret), or carries another app's token claims.
  const key = new TextEncoder().encode(
    mutate === 'other-secret' ? 'not-the-apps-secret-at-all-0123456789' : ctx.otherAppUser.token,
  );
  return new SignJWT({ app: ctx.appId })
    .setProtectedHeader({ alg: 'HS256', kid: ctx.appId, typ: 'JWT' })
    .setSubject('alice')
    .setIssuedAt(now)
    .setExpirationTime(now + 600)
    .sign(key);
}

const cases: Case[] = [
  // Malformed JSON and wrong shapes.
  { name: 'truncated JSON', run: () => asJson('{"from":'), status: 400, code: 'invalid_json' },
  {
    name: 'JSON with a trailing comma',
    run: () => asJson('{"from":"alice",}'),
    status: 400,
    code: 'invalid_json',
  },
  { name: 'single-quoted JSON', run: () => asJson("{'from':'alice'}"), status: 400, code: 'invalid_json' },
  {
    name: 'a __proto__ key',
    run: () => asJson('{"__proto__":{"x":1},"from":"alice","body":{"type":"text","text":"x"}}'),
    status: 400,
    code: 'invalid_json',
  },
  { name: 'a JSON array as the body', run: () => asJson('[]'), status: 400, code: 'invalid_request' },
  { name: 'a JSON string as the body', run: () => asJson('"hello"'), status: 400, code: 'invalid_request' },
  { name: 'a JSON number as the body', run: () => asJson('42'), status: 400, code: 'invalid_request' },
  {
    name: 'text is a number',
    run: () => send({ from: 'alice', body: { type: 'text', text: 5 } }),
    status: 400,
    code: 'invalid_request',
  },
  {
    name: 'from is a number',
    run: () => send({ from: 5, body: text('x') }),
    status: 400,
    code: 'invalid_request',
  },
  {
    name: 'from is an array',
    run: () => send({ from: ['alice'], body: text('x') }),
    status: 400,
    code: 'invalid_request',
  },
  {
    name: 'members is a string',
    run: () => ctx.api.post('/v1/conversations', { kind: 'group', members: 'alice' }),
    status: 400,
    code: 'invalid_request',
  },
  {
    name: 'deliveredSeq is a string',
    run: () => ctx.alice.post(`/v1/conversations/${ctx.conv}/receipts`, { deliveredSeq: '1' }),
    status: 400,
    code: 'invalid_request',
  },
  {
    name: 'readSeq is a fraction',
    run: () => ctx.alice.post(`/v1/conversations/${ctx.conv}/receipts`, { readSeq: 0.5 }),
    status: 400,
    code: 'invalid_request',
  },
  {
    name: 'ttlSeconds is a boolean',
    run: () => ctx.api.post('/v1/users/alice/tokens', { ttlSeconds: true }),
    status: 400,
    code: 'invalid_request',
  },
  // Missing and unknown fields.
  { name: 'send without body', run: () => send({ from: 'alice' }), status: 400, code: 'invalid_request' },
  {
    name: 'send with no JSON at all',
    run: () => ctx.api.call('POST', msgs(), ''),
    status: 400,
    code: 'invalid_request',
  },
  {
    name: 'conversation without kind',
    run: () => ctx.api.post('/v1/conversations', { members: ['alice'] }),
    status: 400,
    code: 'invalid_request',
  },
  {
    name: 'conversation with an unknown kind',
    run: () => ctx.api.post('/v1/conversations', { kind: 'triangle', members: ['alice'] }),
    status: 400,
    code: 'invalid_request',
  },
  {
    name: 'app without name',
    run: () => ctx.admin.post('/v1/apps', {}),
    status: 400,
    code: 'invalid_request',
  },
  {
    name: 'receipt without markers',
    run: () => ctx.alice.post(`/v1/conversations/${ctx.conv}/receipts`, {}),
    status: 400,
    code: 'invalid_request',
  },
  {
    name: 'an unknown top-level field',
    run: () => send({ from: 'alice', body: text('x'), priority: 'high' }),
    status: 400,
    code: 'invalid_request',
  },
  {
    name: 'an unknown field in the message body',
    run: () => send({ from: 'alice', body: { type: 'text', text: 'x', bold: true } }),
    status: 400,
    code: 'invalid_request',
  },
  {
    name: 'an unknown message type',
    run: () => send({ from: 'alice', body: { type: 'image', url: 'x' } }),
    status: 400,
    code: 'invalid_request',
  },
  {
    name: 'an empty text',
    run: () => send({ from: 'alice', body: text('') }),
    status: 400,
    code: 'invalid_request',
  },
  {
    name: 'an empty clientMsgId',
    run: () => send({ from: 'alice', body: text('x'), clientMsgId: '' }),
    status: 400,
    code: 'invalid_request',
  },
  {
    name: 'an app send without from',
    run: () => send({ body: text('x') }),
    status: 400,
    code: 'missing_from',
  },
  {
    name: 'a user sending as someone else',
    run: () => ctx.alice.post(msgs(), { from: 'bob', body: text('x') }),
    status: 403,
    code: 'from_mismatch',
  },
  {
    name: 'a direct conversation of three',
    run: () => ctx.api.post('/v1/conversations', { kind: 'direct', members: ['alice', 'bob', 'carol'] }),
    status: 400,
    code: 'invalid_members',
  },
  {
    name: 'an admin who is not a member',
    run: () => ctx.api.post('/v1/conversations', { kind: 'group', members: ['alice'], admins: ['bob'] }),
    status: 400,
    code: 'invalid_members',
  },
  // Sizes.
  {
    name: 'a body over ONCELY_BODY_LIMIT_BYTES',
    run: () => send({ from: 'alice', body: text('x'.repeat(bodyLimit + 10)) }),
    status: 413,
    code: 'body_too_large',
  },
  {
    name: 'a message over ONCELY_MESSAGE_MAX_BYTES',
    run: () => send({ from: 'alice', body: text('x'.repeat(messageMax + 10)) }),
    status: 413,
    code: 'message_too_large',
  },
  {
    name: 'a custom message over ONCELY_MESSAGE_MAX_BYTES',
    run: () => send({ from: 'alice', body: { type: 'custom', data: { blob: 'y'.repeat(messageMax) } } }),
    status: 413,
    code: 'message_too_large',
  },
  {
    name: 'an id over 128 characters',
    run: () => ctx.api.get(`/v1/conversations/${'c'.repeat(129)}`),
    status: 400,
    code: 'invalid_request',
  },
  {
    name: 'an id with forbidden characters',
    run: () => ctx.api.get('/v1/conversations/a%20b'),
    status: 400,
    code: 'invalid_request',
  },
  // Absurd paging.
  {
    name: 'a negative limit',
    run: () => ctx.api.get(`${msgs()}?limit=-1`),
    status: 400,
    code: 'invalid_request',
  },
  { name: 'a zero limit', run: () => ctx.api.get(`${msgs()}?limit=0`), status: 400, code: 'invalid_request' },
  {
    name: 'a huge limit',
    run: () => ctx.api.get(`${msgs()}?limit=100000000`),
    status: 400,
    code: 'invalid_request',
  },
  {
    name: 'a non-numeric limit',
    run: () => ctx.api.get(`${msgs()}?limit=ten`),
    status: 400,
    code: 'invalid_request',
  },
  {
    name: 'a negative after',
    run: () => ctx.api.get(`${msgs()}?after=-5`),
    status: 400,
    code: 'invalid_request',
  },
  {
    name: 'an after past 2^53',
    run: () => ctx.api.get(`${msgs()}?after=1e300`),
    status: 400,
    code: 'invalid_request',
  },
  {
    name: 'a zero before',
    run: () => ctx.api.get(`${msgs()}?before=0`),
    status: 400,
    code: 'invalid_request',
  },
  {
    name: 'a fractional after',
    run: () => ctx.api.get(`${msgs()}?after=1.5`),
    status: 400,
    code: 'invalid_request',
  },
  {
    name: 'an unknown query parameter',
    run: () => ctx.api.get(`${msgs()}?offset=10`),
    status: 400,
    code: 'invalid_request',
  },
  {
    name: 'a negative receipt',
    run: () => ctx.alice.post(`/v1/conversations/${ctx.conv}/receipts`, { readSeq: -1 }),
    status: 400,
    code: 'invalid_request',
  },
  {
    name: 'a receipt past the last seq',
    run: () => ctx.alice.post(`/v1/conversations/${ctx.conv}/receipts`, { readSeq: 99 }),
    status: 400,
    code: 'seq_out_of_range',
  },
  {
    name: 'a token lifetime over the maximum',
    run: () => ctx.api.post('/v1/users/alice/tokens', { ttlSeconds: 10 ** 9 }),
    status: 400,
    code: 'ttl_too_long',
  },
  {
    name: 'a zero token lifetime',
    run: () => ctx.api.post('/v1/users/alice/tokens', { ttlSeconds: 0 }),
    status: 400,
    code: 'invalid_request',
  },
  // Unknown ids and conflicts.
  {
    name: 'a send to an unknown conversation',
    run: () => ctx.api.post('/v1/conversations/nope/messages', { from: 'alice', body: text('x') }),
    status: 404,
    code: 'conversation_not_found',
  },
  {
    name: 'history of an unknown conversation',
    run: () => ctx.api.get('/v1/conversations/nope/messages'),
    status: 404,
    code: 'conversation_not_found',
  },
  {
    name: 'an unknown message',
    run: () => ctx.api.get('/v1/messages/nope'),
    status: 404,
    code: 'message_not_found',
  },
  {
    name: 'a recall of an unknown message',
    run: () => ctx.api.post('/v1/messages/nope/recall'),
    status: 404,
    code: 'message_not_found',
  },
  {
    name: 'a token for an unknown user',
    run: () => ctx.api.post('/v1/users/nobody/tokens', {}),
    status: 404,
    code: 'user_not_found',
  },
  {
    name: 'a conversation with an unknown member',
    run: () => ctx.api.post('/v1/conversations', { kind: 'group', members: ['alice', 'ghost'] }),
    status: 404,
    code: 'user_not_found',
  },
  {
    name: 'a conversation id that is taken',
    run: () => ctx.api.post('/v1/conversations', { id: ctx.conv, kind: 'group', members: ['alice'] }),
    status: 409,
    code: 'conversation_exists',
  },
  {
    name: 'adding a member to a direct conversation',
    run: () => ctx.api.post(`/v1/conversations/${ctx.direct}/members`, { userIds: ['bob'] }),
    status: 409,
    code: 'conversation_is_direct',
  },
  {
    name: 'removing someone who is not a member',
    run: () => ctx.api.delete(`/v1/conversations/${ctx.conv}/members/carol`),
    status: 404,
    code: 'member_not_found',
  },
  {
    name: 'an unknown idempotency key',
    run: () => ctx.api.get('/v1/idempotency-keys/never-sent'),
    status: 404,
    code: 'idempotency_key_not_found',
  },
  {
    name: 'an idempotency scope of the wrong form',
    run: () => ctx.api.get('/v1/idempotency-keys/k1?scope=everything'),
    status: 400,
    code: 'invalid_scope',
  },
  {
    name: 'an unknown route',
    run: () => ctx.api.get('/v1/nothing-here'),
    status: 404,
    code: 'route_not_found',
  },
  // Idempotency-Key header.
  {
    name: 'an empty Idempotency-Key',
    run: () => send({ from: 'alice', body: text('x') }, { 'idempotency-key': '' }),
    status: 400,
    code: 'invalid_idempotency_key',
  },
  {
    name: 'an Idempotency-Key of 256 characters',
    run: () => send({ from: 'alice', body: text('x') }, { 'idempotency-key': 'k'.repeat(256) }),
    status: 400,
    code: 'invalid_idempotency_key',
  },
  {
    name: 'a reused Idempotency-Key with another body',
    run: () => send({ from: 'alice', body: text('other') }, { 'idempotency-key': 'k1' }),
    status: 422,
    code: 'idempotency_key_reused',
  },
  // Content types.
  {
    name: 'text/plain',
    run: () => ctx.api.call('POST', msgs(), 'hello', { 'content-type': 'text/plain' }),
    status: 415,
    code: 'unsupported_media_type',
  },
  {
    name: 'a form body',
    run: () =>
      ctx.api.call('POST', msgs(), 'from=alice', { 'content-type': 'application/x-www-form-urlencoded' }),
    status: 415,
    code: 'unsupported_media_type',
  },
  // Authentication.
  {
    name: 'no Authorization header',
    run: () => ctx.anonymous.post(msgs(), { from: 'alice', body: text('x') }),
    status: 401,
    code: 'missing_token',
  },
  {
    name: 'a Basic Authorization header',
    run: () => ctx.raw({ authorization: 'Basic YTpi' }).call('GET', msgs()),
    status: 401,
    code: 'invalid_authorization',
  },
  {
    name: 'a garbage bearer token',
    run: () => client(server.url, 'garbage').get(msgs()),
    status: 401,
    code: 'invalid_token',
  },
  {
    name: 'an unknown API key',
    run: () => client(server.url, 'oky_0000000000000000').get(msgs()),
    status: 401,
    code: 'invalid_api_key',
  },
  {
    name: 'a user token with a bad signature',
    run: async () => client(server.url, await forgedToken('signature')).get(msgs()),
    status: 401,
    code: 'invalid_token',
  },
  {
    name: 'a user token signed with another secret',
    run: async () => client(server.url, await forgedToken('other-secret')).get(msgs()),
    status: 401,
    code: 'invalid_token',
  },
  {
    name: "a user token signed with another app's token",
    run: async () => client(server.url, await forgedToken('foreign-kid')).get(msgs()),
    status: 401,
    code: 'invalid_token',
  },
  {
    name: 'an unsigned (alg none) user token',
    run: async () => client(server.url, await forgedToken('alg-none')).get(msgs()),
    status: 401,
    code: 'invalid_token',
  },
  {
    name: 'a user token naming an unknown app',
    run: async () =>
      client(
        server.url,
        ctx.alice.token.replace(
          /^[^.]+/,
          Buffer.from(JSON.stringify({ alg: 'HS256', kid: 'no-such-app' })).toString('base64url'),
        ),
      ).get(msgs()),
    status: 401,
    code: 'invalid_token',
  },
  {
    name: "another app's user token",
    run: () => ctx.otherAppUser.get(msgs()),
    status: 404,
    code: 'conversation_not_found',
  },
  { name: 'an expired user token', run: () => ctx.expired.get(msgs()), status: 401, code: 'token_expired' },
  {
    name: 'a user token where an app key is needed',
    run: () => ctx.alice.post('/v1/conversations', { kind: 'group', members: ['alice'] }),
    status: 403,
    code: 'app_key_required',
  },
  {
    name: 'an app key where a user token is needed',
    run: () => ctx.api.get('/v1/me/conversations'),
    status: 403,
    code: 'user_token_required',
  },
  {
    name: 'an app key where the admin token is needed',
    run: () => ctx.api.post('/v1/apps', { name: 'x' }),
    status: 403,
    code: 'admin_only',
  },
  {
    name: 'the admin token on a send',
    run: () => ctx.admin.post(msgs(), { from: 'alice', body: text('x') }),
    status: 403,
    code: 'app_or_user_required',
  },
  { name: 'an app key on /metrics', run: () => ctx.api.get('/metrics'), status: 403, code: 'admin_only' },
  { name: 'a non-member reading history', run: () => ctx.carol.get(msgs()), status: 403, code: 'not_member' },
];

async function rowCounts(): Promise<Record<string, number>> {
  const { db } = server.oncely.services.store;
  const out: Record<string, number> = {};
  for (const table of ['apps', 'users', 'conversations', 'members', 'events', 'idempotency_keys'] as const) {
    const row = await db
      .selectFrom(table)
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    out[table] = Number(row.n);
  }
  return out;
}

describe('bad input', () => {
  it(`has at least 40 cases (${cases.length})`, () => {
    expect(cases.length).toBeGreaterThanOrEqual(40);
  });

  it('every case gets its 4xx and error code, nothing is written, and the server keeps serving', async () => {
    const before = await rowCounts();
    const got: string[] = [];
    const want: string[] = [];
    for (const c of cases) {
      const res = await c.run();
      const hasMessage = typeof res.body?.error?.message === 'string';
      got.push(`${c.name}: ${res.status} ${res.body?.error?.code}${hasMessage ? '' : ' (no message)'}`);
      want.push(`${c.name}: ${c.status} ${c.code}`);
    }
    expect(got).toEqual(want);
    expect(await rowCounts()).toEqual(before);
    expect((await ctx.anonymous.get('/healthz')).status).toBe(200);
    const ok = await send({ from: 'alice', body: text('still here') });
    expect(ok.status).toBe(201);
    expect(ok.body.seq).toBe(2);
  });
});
