// The chat page shows presence, typing and expiry (Chromium): a dot in the list and the header when the other
// member is online, "last seen" once they leave; "… is typing…" under the title while they compose (their page
// sends one typing frame per two seconds, not one per key) until their message arrives; expired messages as
// such, whether the server erased them or the page's own rule expired them on screen; the retention in the
// header. Screenshots go to test-output/web/.
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../src/clock.js';
import { createApp, startServer, text, type TestServer } from './harness.js';
import {
  chromiumPath,
  connection,
  desktop,
  launchBrowser,
  shoot,
  texts,
  until,
  type Person,
} from './web-browser.js';

/** Opens the page signed in; `sent` collects the WebSocket frames it sends. */
async function openPage(browser: Browser, url: string, token: string, sent: string[] = []): Promise<Person> {
  const context = await browser.newContext({ viewport: desktop });
  const page = await context.newPage();
  page.on('pageerror', (err) => console.error('page error:', err.message));
  page.on('websocket', (ws) => ws.on('framesent', ({ payload }) => void sent.push(String(payload))));
  await page.goto(`${url}/#token=${token}`);
  await connection(page, ['connected']);
  return { context, page };
}

const entry = (page: Page, conversationId: string) =>
  page.locator(`button[data-conversation-id="${conversationId}"]`);
const headerStatus = (page: Page) => page.locator('.pane-status').textContent();

describe.skipIf(!chromiumPath)('presence, typing and expiry on the page', () => {
  let browser: Browser;
  let server: TestServer;
  // Two hours ago at first: a message sent then is past a one-hour retention once the clock moves to now.
  const clock = new ManualClock(Date.now() - 2 * 3_600_000);
  beforeAll(async () => {
    browser = await launchBrowser(chromiumPath!);
    server = await startServer({}, { clock });
  });
  afterAll(async () => {
    await browser?.close();
    await server?.stop();
  });

  it('online dots, typing under the title, last seen; expired messages and the retention', async () => {
    const app = await createApp(server.url, 'presence');
    for (const id of ['alice', 'bob']) await app.api.put(`/v1/users/${id}`, {});
    const direct = (
      await app.api.post('/v1/conversations', {
        kind: 'direct',
        members: ['alice', 'bob'],
        retentionSeconds: 3600,
      })
    ).body.id as string;
    await app.api.post(`/v1/conversations/${direct}/messages`, { from: 'bob', body: text('old secret') });
    clock.advance(2 * 3_600_000 - 1_000);
    await app.api.post(`/v1/conversations/${direct}/messages`, { from: 'bob', body: text('still here') });
    // Tokens made now, by the clock at now (made earlier, they would have expired with the advance).
    const alice = await app.user('alice');
    const bob = await app.user('bob');

    const a = await openPage(browser, server.url, alice.token);
    await until(async () => (await entry(a.page, direct).getAttribute('data-online')) === 'false');
    await entry(a.page, direct).click();
    // Erased by the server's rule (the read shows it expired; no sweep needed): shown as such.
    await until(async () => (await texts(a.page)).length === 2);
    expect(await texts(a.page)).toEqual(['message expired', 'still here']);
    expect(await a.page.getByTestId('retention').textContent()).toBe('Messages disappear after 1 hour');
    expect(await headerStatus(a.page)).toBe('offline');

    // bob comes online: alice's list and header show it.
    const bobSent: string[] = [];
    const b = await openPage(browser, server.url, bob.token, bobSent);
    await until(async () => (await entry(a.page, direct).getAttribute('data-online')) === 'true');
    expect(await a.page.getByTestId('header-presence').getAttribute('data-online')).toBe('true');
    await until(async () => (await headerStatus(a.page)) === 'online');

    // bob types: alice sees it under the title. bob's page sends a typing frame at most every two seconds,
    // not one per key.
    await entry(b.page, direct).click();
    const input = b.page.getByLabel('Message', { exact: true });
    const startedAt = Date.now();
    await input.pressSequentially('on my way', { delay: 20 });
    const typedForMs = Date.now() - startedAt;
    await until(async () => (await a.page.getByTestId('typing').count()) === 1);
    expect(await a.page.getByTestId('typing').textContent()).toBe('bob is typing…');
    await shoot('presence-typing', { alice: a, bob: b });
    const typingFrames = bobSent.filter((f) => JSON.parse(f).type === 'typing');
    expect(typingFrames[0] && JSON.parse(typingFrames[0])).toEqual({
      type: 'typing',
      conversationId: direct,
    });
    expect(typingFrames.length).toBeLessThanOrEqual(Math.floor(typedForMs / 2000) + 1);
    // His message ends the typing at once.
    await input.press('Enter');
    await until(async () => (await texts(a.page)).at(-1) === 'on my way');
    expect(await a.page.getByTestId('typing').count()).toBe(0);

    // bob leaves: offline, with when he was last seen.
    await b.context.close();
    await until(async () => (await entry(a.page, direct).getAttribute('data-online')) === 'false');
    await until(async () => /^last seen /.test((await headerStatus(a.page)) ?? ''));
    await a.context.close();
  });

  it('a message shown live expires on screen by the page’s own rule, without any word from the server', async () => {
    const app = await createApp(server.url, 'brief');
    const dan = await app.user('dan');
    await app.user('eve');
    const brief = (
      await app.api.post('/v1/conversations', {
        kind: 'group',
        title: 'Brief',
        members: ['dan', 'eve'],
        retentionSeconds: 8,
      })
    ).body.id as string;
    const d = await openPage(browser, server.url, dan.token);
    await entry(d.page, brief).click();
    expect(await d.page.getByTestId('retention').textContent()).toBe('Messages disappear after 8 seconds');
    // Sent at the page's now; the server's clock stands still from here, so only the page's rule can expire it.
    clock.advance(Date.now() - clock.now());
    await app.api.post(`/v1/conversations/${brief}/messages`, { from: 'eve', body: text('blink') });
    await until(async () => (await texts(d.page)).at(-1) === 'blink');
    await until(async () => (await texts(d.page)).at(-1) === 'message expired', 25_000);
    expect(await d.page.locator('.conversation-preview').first().textContent()).toBe('eve: message expired');
    await d.context.close();
  });
});
