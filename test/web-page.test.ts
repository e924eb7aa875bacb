// The chat page as a person uses it (Chromium): signing in reads nothing by itself; a chosen conversation
// opens on its first unread message; a sign-in link works in an open tab; a message the server refuses as it
// is comes back to be edited; people appear by name and times by day; conversations can be started from the
// page. Screenshots go to test-output/web/.
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../src/clock.js';
import { createApp, startServer, text, type TestServer } from './harness.js';
import {
  chromiumPath,
  connection,
  desktop,
  launchBrowser,
  phone,
  send,
  shoot,
  statusOf,
  texts,
  until,
  type Person,
} from './web-browser.js';

/** Opens the page through a sign-in link and waits for it to be live; opens nothing. */
async function openPage(browser: Browser, url: string, token: string, viewport = desktop): Promise<Person> {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  page.on('pageerror', (err) => console.error('page error:', err.message));
  await page.goto(`${url}/#token=${token}`);
  await connection(page, ['connected']);
  return { context, page };
}

const entry = (page: Page, conversationId: string) =>
  page.locator(`button[data-conversation-id="${conversationId}"]`);

describe.skipIf(!chromiumPath)('the chat page', () => {
  let browser: Browser;
  let server: TestServer;
  const clock = new ManualClock(Date.now() - 86_400_000);
  beforeAll(async () => {
    browser = await launchBrowser(chromiumPath!);
    server = await startServer({ ONCELY_MESSAGE_MAX_BYTES: '300' }, { clock });
  });
  afterAll(async () => {
    await browser?.close();
    await server?.stop();
  });

  /** An app with alice, bob and carol (display names set), and a direct alice–bob conversation. */
  async function people() {
    const app = await createApp(server.url, 'page');
    const alice = await app.user('alice');
    const bob = await app.user('bob');
    const carol = await app.user('carol');
    await app.api.put('/v1/users/alice', { displayName: 'Alice Liddell' });
    await app.api.put('/v1/users/bob', { displayName: 'Bob Builder' });
    const direct = (await app.api.post('/v1/conversations', { kind: 'direct', members: ['alice', 'bob'] }))
      .body.id as string;
    return { app, alice, bob, carol, direct };
  }

  const readSeqOf = async (app: Awaited<ReturnType<typeof people>>['app'], conv: string, user: string) =>
    (
      (await app.api.get(`/v1/conversations/${conv}/receipts`)).body.items as Array<{
        userId: string;
        readSeq: number;
        deliveredSeq: number;
      }>
    ).find((r) => r.userId === user)!;

  it('signing in opens nothing and reads nothing; the chosen conversation opens on its first unread, under a divider', async () => {
    const { app, alice, bob, direct } = await people();
    const say = (t: string) => alice.post(`/v1/conversations/${direct}/messages`, { body: text(t) });
    for (let i = 1; i <= 40; i++) await say(`old ${i}`);
    await bob.post(`/v1/conversations/${direct}/receipts`, { readSeq: 40 });
    for (let i = 1; i <= 20; i++) await say(`new ${i}`);

    const b = await openPage(browser, server.url, bob.token);
    await until(
      async () => (await entry(b.page, direct).getAttribute('aria-label')) === 'Alice Liddell, 20 unread',
    );
    expect(await b.page.locator('.pane .empty').textContent()).toBe('Choose a conversation.');
    // The page is live (a new message reaches it and it says so: delivered), and still nothing was read.
    await say('new 21');
    await until(async () => (await readSeqOf(app, direct, 'bob')).deliveredSeq === 61);
    expect((await readSeqOf(app, direct, 'bob')).readSeq).toBe(40);
    await until(
      async () => (await entry(b.page, direct).getAttribute('aria-label')) === 'Alice Liddell, 21 unread',
    );
    await shoot('signed-in-nothing-opened', { bob: b });

    await entry(b.page, direct).click();
    const divider = b.page.getByTestId('unread-divider');
    await divider.waitFor();
    // The divider sits right above the first unread message, at the top of the pane.
    const next = await divider.evaluate((el) => el.nextElementSibling?.querySelector('.text')?.textContent);
    expect(next).toBe('new 1');
    const pane = (await b.page.locator('.messages').boundingBox())!;
    const line = (await divider.boundingBox())!;
    expect(line.y).toBeGreaterThanOrEqual(pane.y);
    expect(line.y).toBeLessThan(pane.y + pane.height / 3);
    // What is on screen is read — and nothing below it.
    await until(async () => (await readSeqOf(app, direct, 'bob')).readSeq > 40);
    const read = (await readSeqOf(app, direct, 'bob')).readSeq;
    const bottomSeq = await b.page.evaluate(() => {
      const box = document.querySelector('.messages')!.getBoundingClientRect();
      // Any part of it on screen: an upper bound of what may have been read.
      const seen = Array.from(document.querySelectorAll<HTMLElement>('.message[data-seq]')).filter(
        (m) => m.getBoundingClientRect().top < box.bottom,
      );
      return Number(seen.at(-1)?.dataset.seq);
    });
    expect(read).toBeLessThanOrEqual(bottomSeq);
    expect(read).toBeLessThan(61);
    // Focus is in the text box, ready to answer.
    await until(async () => (await b.page.evaluate(() => document.activeElement?.id)) === 'composer-input');
    await shoot('landing-on-first-unread', { bob: b });
    // Reading on to the end reads everything; the divider stays where the unread began.
    await b.page.locator('.messages').evaluate((el) => (el.scrollTop = el.scrollHeight));
    await until(async () => (await readSeqOf(app, direct, 'bob')).readSeq === 61);
    await until(async () => (await entry(b.page, direct).getAttribute('aria-label')) === 'Alice Liddell');
    expect(await b.page.getByTestId('unread-divider').count()).toBe(1);
    await b.context.close();
  });

  it('a sign-in link works in a tab that already shows the page, and leaves the address bar; Enter signs in', async () => {
    const { alice, bob } = await people();
    const a = await openPage(browser, server.url, alice.token);
    // The page shows the user id until her profile has loaded.
    await until(async () => (await a.page.getByTestId('me').textContent()) === 'Alice Liddell');
    await a.page.evaluate((token) => (location.hash = `#token=${token}`), bob.token);
    await until(async () => (await a.page.getByTestId('me').textContent()) === 'Bob Builder');
    expect(a.page.url()).toBe(`${server.url}/`);
    await connection(a.page, ['connected']);

    await a.page.getByRole('button', { name: 'Sign out' }).click();
    await a.page.getByLabel('User token').fill(alice.token);
    await a.page.getByLabel('User token').press('Enter');
    await until(async () => (await a.page.getByTestId('me').count()) === 1);
    await until(async () => (await a.page.getByTestId('me').textContent()) === 'Alice Liddell');
    await a.context.close();
  });

  it('a message the server refuses as it is offers Edit and Discard, not Retry; Edit puts the text back', async () => {
    const { alice, direct } = await people();
    const a = await openPage(browser, server.url, alice.token);
    await entry(a.page, direct).click();
    const long = `too long: ${'x'.repeat(400)}`;
    await send(a.page, long);
    const failed = a.page.locator('.message-list [data-testid=message]', { hasText: 'too long' });
    await until(async () => (await failed.getAttribute('data-status')) === 'failed');
    expect(await failed.getByRole('button', { name: 'Retry' }).count()).toBe(0);
    expect(await failed.getByRole('alert').textContent()).toContain('limit');
    await shoot('refused-send-edit-or-discard', { alice: a });
    await failed.getByRole('button', { name: 'Edit' }).click();
    expect(await failed.count()).toBe(0);
    const box = a.page.getByLabel('Message', { exact: true });
    expect(await box.inputValue()).toBe(long);
    expect(await a.page.evaluate(() => document.activeElement?.id)).toBe('composer-input');
    await box.fill('shorter now');
    await box.press('Enter');
    await until(async () => (await statusOf(a.page, 'shorter now')) === 'sent');

    await send(a.page, `again ${'y'.repeat(400)}`);
    const again = a.page.locator('.message-list [data-testid=message]', { hasText: 'again' });
    await until(async () => (await again.getAttribute('data-status')) === 'failed');
    await again.getByRole('button', { name: 'Discard' }).click();
    expect(await again.count()).toBe(0);
    expect(await texts(a.page)).toEqual(['shorter now']);
    await a.context.close();
  });

  it('people appear by display name, messages under day separators with the full time on hover, the list with times', async () => {
    const { app, direct } = await people();
    const group = (
      await app.api.post('/v1/conversations', { kind: 'group', members: ['alice', 'bob', 'carol'] })
    ).body.id as string;
    const say = (from: string, conv: string, t: string) =>
      app.api.post(`/v1/conversations/${conv}/messages`, { from, body: text(t) });
    // Yesterday (the server's clock is a day behind), then today.
    await say('bob', group, 'yesterday from bob');
    await say('alice', direct, 'hi bob');
    clock.advance(86_400_000);
    await say('bob', group, 'today from bob');
    await app.api.delete(`/v1/conversations/${group}/members/carol`);
    const token = (await app.api.post('/v1/users/alice/tokens', { ttlSeconds: 3600 })).body.token as string;

    const a = await openPage(browser, server.url, token);
    const groupEntry = entry(a.page, group);
    await until(
      async () =>
        (await entry(a.page, direct).locator('.conversation-title').textContent()) === 'Bob Builder',
    );
    expect(await groupEntry.locator('.conversation-preview').textContent()).toBe(
      'Bob Builder: today from bob',
    );
    expect(await groupEntry.locator('.conversation-time').textContent()).toMatch(/\d{1,2}:\d{2}/);
    expect(await entry(a.page, direct).locator('.conversation-time').textContent()).toBe('Yesterday');

    await groupEntry.click();
    await until(async () => (await texts(a.page)).includes('today from bob'));
    expect(await a.page.getByTestId('day').allTextContents()).toEqual(['Yesterday', 'Today']);
    expect(await a.page.locator('.message-list .sender').allTextContents()).toEqual([
      'Bob Builder',
      'Bob Builder',
    ]);
    expect(await a.page.locator('.pane-header .members').textContent()).toBe('Alice Liddell, Bob Builder');
    expect(await a.page.locator('.system-event').textContent()).toBe('carol left');
    const hover = await a.page.locator('.message time').first().getAttribute('title');
    expect(hover).toContain(String(new Date(clock.now() - 86_400_000).getFullYear()));
    await shoot('names-and-days', { alice: a });
    await a.context.close();
  });

  it('a direct conversation and a group are started from the page; the other side sees them arrive', async () => {
    const { app, alice, carol } = await people();
    await app.user('dave');
    // alice knows bob and carol from a group; dave she names by id.
    await app.api.post('/v1/conversations', { kind: 'group', members: ['alice', 'bob', 'carol'] });
    const a = await openPage(browser, server.url, alice.token);
    const c = await openPage(browser, server.url, carol.token, phone);

    await a.page.getByRole('button', { name: 'New conversation' }).click();
    await a.page.getByRole('checkbox', { name: 'carol', exact: true }).check();
    await shoot('new-conversation-form', { alice: a });
    await a.page.getByRole('button', { name: 'Chat with carol' }).click();
    await until(async () => (await a.page.locator('#pane-title').textContent()) === 'carol');
    await until(async () => (await a.page.evaluate(() => document.activeElement?.id)) === 'composer-input');
    await send(a.page, 'started from the page');
    await until(async () => (await statusOf(a.page, 'started from the page')) === 'delivered');
    const fromAlice = c.page.locator('.conversation', { hasText: 'started from the page' });
    await fromAlice.waitFor();
    expect(await fromAlice.locator('.conversation-title').textContent()).toBe('Alice Liddell');

    await a.page.getByRole('button', { name: 'New conversation' }).click();
    await a.page.getByRole('checkbox', { name: /^Bob Builder/ }).check();
    await a.page.getByLabel('Others, by user id').fill('dave');
    await a.page.getByLabel('Group name (optional)').fill('Project');
    await a.page.getByRole('button', { name: 'Create group' }).click();
    await until(async () => (await a.page.locator('#pane-title').textContent()) === 'Project');
    expect(await a.page.locator('.pane-header .members').textContent()).toBe(
      'Alice Liddell, Bob Builder, dave',
    );
    // An unknown id is refused, and the form says so.
    await a.page.getByRole('button', { name: 'New conversation' }).click();
    await a.page.getByLabel('Others, by user id').fill('nobody');
    await a.page.getByRole('button', { name: 'Chat with nobody' }).click();
    await a.page.getByRole('alert').filter({ hasText: 'nobody' }).waitFor();
    await shoot('conversation-started', { alice: a, carol: c });
    await a.context.close();
    await c.context.close();
  });

  it('an app that turns it off: the page offers no way to start a conversation', async () => {
    const { app, alice } = await people();
    await app.api.call('PATCH', `/v1/apps/${app.appId}/settings`, { usersCreateConversations: false });
    const a = await openPage(browser, server.url, alice.token);
    await until(async () => (await a.page.getByTestId('me').textContent()) === 'Alice Liddell');
    expect(await a.page.getByRole('button', { name: 'New conversation' }).count()).toBe(0);
    await a.context.close();
  });
});
