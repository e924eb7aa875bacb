// The server side of the web client: the page served at `/` beside the API, `GET /v1/me`, members'
// receipts, and demo mode's idempotent seeding with its printed sign-in links.
import { readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  client,
  createApp,
  freePort,
  spawnServer,
  startServer,
  tempDir,
  testStore,
  text,
  waitFor,
  type TestServer,
} from './harness.js';
import { ensureWebBuilt } from './web-build.js';

const signInLinks = (output: string) =>
  [...output.matchAll(/^\s+(\w+)\s+(http:\/\/\S+\/#token=(\S+))$/gm)].map((m) => ({
    userId: m[1]!,
    link: m[2]!,
    token: m[3]!,
  }));

describe('the web client is served beside the API', () => {
  let server: TestServer;
  beforeAll(async () => {
    ensureWebBuilt();
    server = await startServer({ ONCELY_RECALL_WINDOW_SECONDS: '45' });
  });
  afterAll(() => server.stop());

  it('serves the page at / and its hashed assets, while API paths keep their JSON answers', async () => {
    const page = await fetch(`${server.url}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/text\/html/);
    const html = await page.text();
    expect(html).toContain('<div id="app">');
    const script = /src="(\/assets\/[^"]+\.js)"/.exec(html)?.[1];
    expect(script).toBeDefined();
    const asset = await fetch(server.url + script!);
    expect(asset.status).toBe(200);
    expect(asset.headers.get('cache-control')).toContain('immutable');

    const api = client(server.url);
    expect((await api.get('/healthz')).body).toEqual({ status: 'ok' });
    expect((await api.get('/openapi.json')).body.paths['/v1/me']).toBeDefined();
    const unknown = await api.get('/v1/no-such-thing');
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.code).toBe('route_not_found');
    expect((await api.get('/v1/me/conversations')).body.error.code).toBe('missing_token');
    expect((await api.get('/no-such-file.js')).status).toBe(404);
  });

  it('GET /v1/me names the user, the recall window the page must respect, and whether it may start conversations', async () => {
    const app = await createApp(server.url);
    const alice = await app.user('alice');
    const me = await alice.get('/v1/me');
    expect(me.status).toBe(200);
    expect(me.body).toEqual({
      userId: 'alice',
      appId: app.appId,
      displayName: 'alice',
      recallWindowSeconds: 45,
      canStartConversations: true,
    });
    expect((await app.api.get('/v1/me')).body.error.code).toBe('user_token_required');
  });

  it("GET /v1/conversations/{id}/receipts lists every member's markers, to members only", async () => {
    const app = await createApp(server.url);
    const [alice, bob, carol] = [await app.user('alice'), await app.user('bob'), await app.user('carol')];
    const conv = (await app.api.post('/v1/conversations', { kind: 'direct', members: ['alice', 'bob'] })).body
      .id;
    await alice.post(`/v1/conversations/${conv}/messages`, { body: text('hi'), clientMsgId: 'c1' });
    await alice.post(`/v1/conversations/${conv}/messages`, { body: text('there'), clientMsgId: 'c2' });
    expect(
      (await bob.post(`/v1/conversations/${conv}/receipts`, { deliveredSeq: 2, readSeq: 1 })).status,
    ).toBe(200);
    const receipts = await alice.get(`/v1/conversations/${conv}/receipts`);
    expect(receipts.status).toBe(200);
    expect(receipts.body.items).toEqual([
      { conversationId: conv, userId: 'alice', deliveredSeq: 0, readSeq: 0 },
      { conversationId: conv, userId: 'bob', deliveredSeq: 2, readSeq: 1 },
    ]);
    expect((await carol.get(`/v1/conversations/${conv}/receipts`)).body.error.code).toBe('not_member');
  });
});

describe('demo mode', () => {
  const dir = tempDir('oncely-demo-');
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  // Demo data goes into the embedded store only (a shared PostgreSQL database never gets demo users).
  it.runIf(testStore === 'sqlite')(
    'seeds alice, bob and carol once, prints a sign-in link for each, and finds the same demo after a restart',
    async () => {
      const port = await freePort();
      const first = await spawnServer(dir, port, { ONCELY_DEMO: '1' });
      let links: ReturnType<typeof signInLinks> = [];
      try {
        // The links are printed once seeding is done, just after the server starts answering.
        await waitFor(() => signInLinks(first.output()).length === 3, 30_000);
        links = signInLinks(first.output());
        expect(links.map((l) => l.userId)).toEqual(['alice', 'bob', 'carol']);
        expect(links[0]!.link.startsWith(`http://127.0.0.1:${port}/#token=`)).toBe(true);
        // The demo app's API key is printed once, so the app API can be tried against the demo users.
        const apiKey = readFileSync(join(dir, 'demo-api-key'), 'utf8').trim();
        expect(statSync(join(dir, 'demo-api-key')).mode & 0o777).toBe(0o600);
        expect(first.output().split(apiKey).length - 1).toBe(1);
        const alice = await client(first.url, apiKey).get('/v1/users/alice');
        expect(alice.body).toMatchObject({ id: 'alice', displayName: 'Alice' });
      } finally {
        await first.kill();
      }
      const second = await spawnServer(dir, port, { ONCELY_DEMO: '1' });
      try {
        await waitFor(() => signInLinks(second.output()).length === 3, 30_000);
        const again = signInLinks(second.output());
        expect(second.output()).not.toContain(readFileSync(join(dir, 'demo-api-key'), 'utf8').trim());
        expect(second.output()).toContain('demo-api-key');
        const alice = client(second.url, again[0]!.token);
        const me = (await alice.get('/v1/me')).body;
        // The same demo app: a token from the first start still signs in.
        expect((await client(second.url, links[0]!.token).get('/v1/me')).body.appId).toBe(me.appId);
        const convs = (await alice.get('/v1/me/conversations')).body.items;
        expect(convs.map((c: { kind: string; members: string[] }) => [c.kind, c.members])).toEqual([
          ['group', ['alice', 'bob', 'carol']],
          ['direct', ['alice', 'bob']],
        ]);
        const carol = client(second.url, again[2]!.token);
        expect((await carol.get('/v1/me/conversations')).body.items).toHaveLength(1);
      } finally {
        await second.kill();
      }
    },
  );

  it('without ONCELY_DEMO there is no demo app and no sign-in link', async () => {
    const server = await spawnServer(tempDir('oncely-nodemo-'), await freePort(), { ONCELY_DEMO: '0' });
    try {
      expect(server.output()).not.toContain('#token=');
    } finally {
      await server.kill();
      rmSync(server.dir, { recursive: true, force: true });
    }
  });
});
