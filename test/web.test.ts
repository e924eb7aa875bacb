// The web client in a real browser (Debian's Chromium driven by playwright-core): two people, alice and
// bob, each in their own browser context, chatting through the page served by a real oncely server.
import { rmSync } from 'node:fs';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, freePort, spawnServer, startServer, tempDir } from './harness.js';
import {
  chromiumPath,
  connection,
  desktop,
  launchBrowser,
  phone,
  send,
  shoot,
  signIn,
  statusOf,
  texts,
  until,
} from './web-browser.js';

describe.skipIf(!chromiumPath)('the web client in a real browser', () => {
  let browser: Browser;

  beforeAll(async () => {
    browser = await launchBrowser(chromiumPath!);
  });
  afterAll(async () => {
    await browser?.close();
  });

  async function directChat(baseUrl: string) {
    const app = await createApp(baseUrl, 'web');
    const [alice, bob] = [await app.user('alice'), await app.user('bob')];
    const conversationId = (
      await app.api.post('/v1/conversations', { kind: 'direct', members: ['alice', 'bob'] })
    ).body.id as string;
    return { app, alice, bob, conversationId };
  }

  it("alice sends and bob sees it; bob's page reads it and alice's tick turns read; alice recalls and both show the placeholder", async () => {
    const server = await startServer();
    try {
      const { alice, bob, conversationId } = await directChat(server.url);
      const a = await signIn(browser, server.url, alice.token, conversationId);
      // bob on a phone-sized window: the list first, with the unread count.
      const b = {
        context: await browser.newContext({ viewport: phone }),
        page: undefined as unknown as Page,
      };
      b.page = await b.context.newPage();
      await b.page.goto(`${server.url}/#token=${bob.token}`);
      await connection(b.page, ['connected']);

      await send(a.page, 'hello bob');
      // Shown at once on alice's page, then sent (a seq) and delivered (bob's page has it).
      await a.page.locator('.message-list [data-testid=message]', { hasText: 'hello bob' }).waitFor();
      await until(async () => (await statusOf(a.page, 'hello bob')) === 'delivered');
      const entry = b.page.locator(`button[data-conversation-id="${conversationId}"]`);
      await until(async () => (await entry.getAttribute('aria-label')) === 'alice, 1 unread');
      expect(await entry.locator('.conversation-preview').textContent()).toBe('hello bob');
      expect(await b.page.title()).toBe('(1) oncely chat');

      await entry.click();
      await until(async () => (await texts(b.page)).includes('hello bob'));
      await until(async () => (await statusOf(a.page, 'hello bob')) === 'read');
      await b.page.getByRole('button', { name: 'Back to conversations' }).click();
      await until(async () => (await entry.getAttribute('aria-label')) === 'alice');
      expect(await b.page.title()).toBe('oncely chat');
      await entry.click();

      // Recall from the message's menu, by keyboard.
      const mine = a.page.locator('.message-list [data-testid=message]', { hasText: 'hello bob' });
      await mine.getByRole('button', { name: 'Message actions' }).focus();
      await a.page.keyboard.press('Enter');
      // The menu moves focus to its first item once it has rendered.
      const recall = a.page.getByRole('menuitem', { name: 'Recall' });
      await until(async () => recall.evaluate((el) => el === document.activeElement));
      await a.page.keyboard.press('Enter');
      for (const page of [a.page, b.page]) {
        await until(async () => (await texts(page)).join('|') === 'message recalled');
      }
      expect(await b.page.locator('.message-list [data-testid=message]').count()).toBe(1);
      await shoot('chat-and-recall', { alice: a, bob: b });
      await a.context.close();
      await b.context.close();
    } finally {
      await server.stop();
    }
  });

  it("recall is offered on one's own messages only, and only while the recall window is open", async () => {
    const server = await startServer({ ONCELY_RECALL_WINDOW_SECONDS: '2' });
    try {
      const { alice, bob, conversationId } = await directChat(server.url);
      await bob.post(`/v1/conversations/${conversationId}/messages`, {
        body: { type: 'text', text: 'from bob' },
      });
      const a = await signIn(browser, server.url, alice.token, conversationId);
      await send(a.page, 'from alice');
      await until(async () => (await statusOf(a.page, 'from alice')) !== 'sending');
      const menuOf = (text: string) =>
        a.page
          .locator('.message-list [data-testid=message]', { hasText: text })
          .getByRole('button', { name: 'Message actions' });
      expect(await menuOf('from alice').count()).toBe(1);
      expect(await menuOf('from bob').count()).toBe(0);
      // The window closes two seconds after the send; the page checks every few seconds.
      await until(async () => (await menuOf('from alice').count()) === 0, 10_000);
      await a.context.close();
    } finally {
      await server.stop();
    }
  });

  it("bob goes offline while alice sends 5 messages; back online, bob's page shows all 5 once, in order", async () => {
    const server = await startServer();
    try {
      const { alice, bob, conversationId } = await directChat(server.url);
      const a = await signIn(browser, server.url, alice.token, conversationId);
      const b = await signIn(browser, server.url, bob.token, conversationId, phone);
      await send(a.page, 'before');
      await until(async () => (await texts(b.page)).includes('before'));

      await b.context.setOffline(true);
      await connection(b.page, ['offline']);
      const five = ['one', 'two', 'three', 'four', 'five'];
      for (const t of five) await send(a.page, t);
      await until(async () =>
        (await Promise.all(five.map((t) => statusOf(a.page, t)))).every((s) => s === 'sent'),
      );
      expect(await texts(b.page)).toEqual(['before']);

      await b.context.setOffline(false);
      // Back on the WebSocket: no network at all is no reason to fall back to long-poll.
      await connection(b.page, ['connected'], 45_000);
      // bob's page has read all five once alice's ticks say so; then nothing more may arrive.
      await until(async () => (await statusOf(a.page, 'five')) === 'read');
      expect(await texts(b.page)).toEqual(['before', ...five]);
      expect(await texts(a.page)).toEqual(['before', ...five]);

      // Written while offline: shown at once as sending, sent once when the network is back.
      await b.context.setOffline(true);
      await connection(b.page, ['offline']);
      await send(b.page, 'sorry, I was away');
      expect(await statusOf(b.page, 'sorry, I was away')).toBe('sending');
      await b.context.setOffline(false);
      await until(async () => (await statusOf(b.page, 'sorry, I was away')) === 'read');
      expect(await texts(a.page)).toEqual(['before', ...five, 'sorry, I was away']);
      expect(await texts(b.page)).toEqual(['before', ...five, 'sorry, I was away']);
      await shoot('offline-catch-up', { alice: a, bob: b });
      await a.context.close();
      await b.context.close();
    } finally {
      await server.stop();
    }
  });

  it('a page that comes back resumes from its stored cursor: unread counted once, history paged back, nothing twice, read only once on screen', async () => {
    const server = await startServer();
    try {
      const { alice, bob, conversationId } = await directChat(server.url);
      const history = Array.from({ length: 45 }, (_, i) => `m${i + 1}`);
      for (const t of history) {
        await alice.post(`/v1/conversations/${conversationId}/messages`, {
          body: { type: 'text', text: t },
          clientMsgId: t,
        });
      }
      // bob has read up to m40 elsewhere: the page opens on the five unread, under the newest page.
      await bob.post(`/v1/conversations/${conversationId}/receipts`, { readSeq: 40 });
      const b = await signIn(browser, server.url, bob.token, conversationId, phone);
      // The newest page first; earlier ones on request, in order, until there are no more.
      await until(async () => (await texts(b.page)).length === 30);
      expect(await texts(b.page)).toEqual(history.slice(15));
      await b.page.getByRole('button', { name: 'Load earlier messages' }).click();
      await until(async () => (await texts(b.page)).length === 45);
      expect(await texts(b.page)).toEqual(history);
      // The reader keeps their place: the message that was first on screen is still on screen.
      const pane = await b.page.locator('.messages').boundingBox();
      const m16 = await b.page.locator('.message-list .text', { hasText: /^m16$/ }).boundingBox();
      expect(m16!.y).toBeGreaterThanOrEqual(pane!.y);
      expect(m16!.y + m16!.height).toBeLessThanOrEqual(pane!.y + pane!.height);
      expect(await b.page.getByRole('button', { name: 'Load earlier messages' }).count()).toBe(0);

      // bob leaves the page; alice writes three more; bob comes back in the same tab (no token in the URL).
      await b.page.goto('about:blank');
      const more = ['back 1', 'back 2', 'back 3'];
      for (const t of more) {
        await alice.post(`/v1/conversations/${conversationId}/messages`, {
          body: { type: 'text', text: t },
          clientMsgId: t,
        });
      }
      const replayed: string[] = [];
      b.page.on('websocket', (ws) => ws.on('framereceived', ({ payload }) => replayed.push(String(payload))));
      await b.page.goto(`${server.url}/`);
      const entry = b.page.locator(`button[data-conversation-id="${conversationId}"]`);
      await until(async () => (await entry.getAttribute('aria-label')) === 'alice, 3 unread');
      await connection(b.page, ['connected']);
      expect(await entry.getAttribute('aria-label')).toBe('alice, 3 unread');
      // The three came over the socket, replayed after the stored cursor (not only from history).
      const arrived = (t: string) =>
        replayed.some((f) => f.includes('"type":"event"') && f.includes(`"${t}"`));
      await until(async () => more.every(arrived));
      // Counted once, though the list and the replay both told of them.
      expect(await entry.getAttribute('aria-label')).toBe('alice, 3 unread');
      await entry.click();
      // The replayed three may show before the page of history under them arrives: wait for both.
      await until(async () => {
        const t = await texts(b.page);
        return t.at(-1) === 'back 3' && t.length >= 30;
      });
      // The replayed three and at least a page before them: a gapless tail, each once.
      const shown = await texts(b.page);
      expect(shown.length).toBeGreaterThanOrEqual(30);
      expect(shown).toEqual([...history, ...more].slice(-shown.length));
      await b.page.getByRole('button', { name: 'Load earlier messages' }).click();
      await until(async () => (await texts(b.page)).length === 48);
      expect(await texts(b.page)).toEqual([...history, ...more]);

      // A message that arrives while bob reads old ones is delivered, and read only once it is on screen.
      const messages = b.page.locator('.messages');
      await messages.evaluate((el) => (el.scrollTop = 0));
      const unseen = await alice.post(`/v1/conversations/${conversationId}/messages`, {
        body: { type: 'text', text: 'look down' },
        clientMsgId: 'look down',
      });
      const status = async () => (await alice.get(`/v1/messages/${unseen.body.id}`)).body.status as string;
      await until(async () => (await status()) === 'delivered');
      await until(async () => (await texts(b.page)).at(-1) === 'look down');
      expect(await status()).toBe('delivered');
      await messages.evaluate((el) => (el.scrollTop = el.scrollHeight));
      await until(async () => (await status()) === 'read');
      await shoot('resume-and-history', { bob: b });
      await b.context.close();
    } finally {
      await server.stop();
    }
  });

  it("after an outage, the browser's online event reconnects the page at once instead of waiting out its backoff", async () => {
    const dir = tempDir('oncely-web-online-');
    const port = await freePort();
    let server = await startServer({ ONCELY_PORT: String(port) }, { dir });
    try {
      const { alice, bob, conversationId } = await directChat(server.url);
      const b = await signIn(browser, server.url, bob.token, conversationId);
      await server.stop();
      // The page backs off while the server is down: wait until its next attempt is at least 5 s away.
      let dueIn = 0;
      let readAt = 0;
      await until(async () => {
        const label = (await b.page.getByTestId('connection-label').textContent()) ?? '';
        readAt = Date.now();
        dueIn = Number(/in (\d+) s/.exec(label)?.[1] ?? 0);
        return dueIn >= 5;
      }, 30_000);
      // The label rounds up: the attempt it counts down to comes no sooner than this.
      const attemptDueAt = readAt + (dueIn - 1) * 1000;
      server = await startServer({ ONCELY_PORT: String(port) }, { dir });
      await alice.post(`/v1/conversations/${conversationId}/messages`, {
        body: { type: 'text', text: 'welcome back' },
      });
      // A network blip ends: the browser fires `online`.
      await b.context.setOffline(true);
      await connection(b.page, ['offline']);
      await b.context.setOffline(false);
      await connection(b.page, ['connected'], attemptDueAt - Date.now() - 500);
      await until(async () => (await texts(b.page)).includes('welcome back'));
      await b.context.close();
    } finally {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the server restarts under both pages; they are back on the WebSocket by themselves and keep chatting', async () => {
    const dir = tempDir('oncely-web-restart-');
    const port = await freePort();
    let server = await spawnServer(dir, port);
    try {
      const { alice, bob, conversationId } = await directChat(server.url);
      const a = await signIn(browser, server.url, alice.token, conversationId);
      const b = await signIn(browser, server.url, bob.token, conversationId, phone);
      await send(a.page, 'before the restart');
      await until(async () => (await texts(b.page)).includes('before the restart'));

      await server.kill('SIGKILL');
      for (const p of [a, b]) await connection(p.page, ['reconnecting']);
      // The countdown to the next attempt is on show.
      expect(await b.page.getByTestId('connection-label').textContent()).toMatch(/Reconnecting( in \d+ s|…)/);
      server = await spawnServer(dir, port);
      // On the WebSocket again, not long-poll: HTTP failed too, so the server was down, not the socket blocked.
      for (const p of [a, b]) await connection(p.page, ['connected'], 45_000);

      await send(a.page, 'after the restart');
      await until(async () => (await texts(b.page)).includes('after the restart'));
      await send(b.page, 'welcome back');
      await until(async () => (await texts(a.page)).includes('welcome back'));
      const expected = ['before the restart', 'after the restart', 'welcome back'];
      expect(await texts(a.page)).toEqual(expected);
      expect(await texts(b.page)).toEqual(expected);
      await shoot('server-restart', { alice: a, bob: b });
      await a.context.close();
      await b.context.close();
    } finally {
      await server.kill();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000); // two cold starts of the server process; slow when the machine is busy

  it('a refused token returns to sign-in; signed in with the WebSocket blocked, the page falls back to long-poll and still chats, ticks included', async () => {
    const server = await startServer();
    try {
      const { alice, bob, conversationId } = await directChat(server.url);
      const context = await browser.newContext({ viewport: desktop });
      let refused = 0;
      // Every WebSocket the page opens to oncely is closed before the server ever sees it.
      await context.routeWebSocket(/\/v1\/ws/, (ws) => {
        refused++;
        return ws.close({ code: 1011, reason: 'blocked by the test' });
      });
      const page = await context.newPage();
      // A token the server refuses (its signature altered) brings back the sign-in form, saying why...
      const forged = `${alice.token.slice(0, -6)}AAAAAA`;
      await page.goto(`${server.url}/#token=${forged}`);
      await page.getByRole('alert').filter({ hasText: 'That token is not valid here.' }).waitFor();
      expect(page.url()).toBe(`${server.url}/`);
      // ...where a pasted token signs in.
      await page.getByLabel('User token').fill(alice.token);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.locator(`button[data-conversation-id="${conversationId}"]`).click();
      await connection(page, ['long-poll']);
      expect(refused).toBeGreaterThan(0);
      expect(await page.getByTestId('connection-label').textContent()).toBe('Long-poll fallback');
      const a = { context, page };
      const b = await signIn(browser, server.url, bob.token, conversationId, phone);

      await send(a.page, 'over long-poll');
      await until(async () => (await texts(b.page)).includes('over long-poll'));
      await until(async () => (await statusOf(a.page, 'over long-poll')) === 'read');
      await send(b.page, 'heard you');
      await until(async () => (await texts(a.page)).includes('heard you'));
      expect(await texts(a.page)).toEqual(['over long-poll', 'heard you']);
      expect(await connection(a.page, ['long-poll'])).toBe('long-poll');
      await shoot('long-poll-fallback', { alice: a, bob: b });
      await a.context.close();
      await b.context.close();
    } finally {
      await server.stop();
    }
  });
});
