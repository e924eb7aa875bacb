// The browser side of the web tests: Debian's Chromium through playwright-core, a person signed in through a
// `#token=…` link, and helpers to read the page the way a person does (texts, ticks, the connection indicator).
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { expect } from 'vitest';
import { repoRoot, waitFor } from './harness.js';
import { serviceBinary } from './services.js';
import { ensureWebBuilt } from './web-build.js';

export const chromiumPath = serviceBinary('Chromium', ['/usr/bin/chromium'], 'chromium');
export const screenshots = join(repoRoot, 'test-output', 'web');
export const phone = { width: 390, height: 844 };
export const desktop = { width: 1100, height: 720 };

export interface Person {
  context: BrowserContext;
  page: Page;
}

/** Opens the page signed in through `#token=…` and opens the conversation from the list. */
export async function signIn(
  browser: Browser,
  baseUrl: string,
  token: string,
  conversationId: string,
  viewport = desktop,
): Promise<Person> {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  page.on('pageerror', (err) => console.error('page error:', err.message));
  await page.goto(`${baseUrl}/#token=${token}`);
  await page.locator(`button[data-conversation-id="${conversationId}"]`).click();
  await connection(page, ['connected']);
  return { context, page };
}

/** Waits until the page's connection indicator shows one of `kinds`. */
export async function connection(page: Page, kinds: string[], timeoutMs = 20_000): Promise<string> {
  let kind = '';
  await waitFor(async () => {
    kind = (await page.getByTestId('connection').getAttribute('data-kind')) ?? '';
    return kinds.includes(kind);
  }, timeoutMs);
  return kind;
}

/** The texts of the open conversation's messages, top to bottom. */
export const texts = (page: Page) =>
  page.locator('.message-list [data-testid=message] .text').allTextContents();

/** The status of one's own message with this text (sending, sent, delivered, read). */
export const statusOf = (page: Page, text: string) =>
  page.locator('.message-list [data-testid=message]', { hasText: text }).getAttribute('data-status');

export async function send(page: Page, text: string): Promise<void> {
  const input = page.getByLabel('Message', { exact: true });
  await input.fill(text);
  await input.press('Enter');
}

export async function until(check: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  await waitFor(check, timeoutMs, 50);
}

/** Screenshots of each page, after checking that nothing spills past the window's width (phone included). */
export async function shoot(name: string, people: Record<string, Person>): Promise<void> {
  mkdirSync(screenshots, { recursive: true });
  for (const [who, p] of Object.entries(people)) {
    const { scrollWidth, innerWidth } = await p.page.evaluate(() => ({
      scrollWidth: document.documentElement.scrollWidth,
      innerWidth: window.innerWidth,
    }));
    expect(scrollWidth, `${who}'s page is wider than its window`).toBeLessThanOrEqual(innerWidth);
    await p.page.screenshot({ path: join(screenshots, `${name}-${who}.png`) });
  }
}

/** Chromium, headless, with the page built first. */
export async function launchBrowser(executablePath: string): Promise<Browser> {
  ensureWebBuilt();
  return chromium.launch({
    executablePath,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}
