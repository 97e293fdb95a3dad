// Money through the web app in Chromium, offline with the built-in fake provider: a viewer
// subscribes through the fake checkout page (its webhooks signed as Stripe signs them, applied by
// the real queue consumer), gets the subscriber badge in chat, buys bits and cheers, and the
// broadcaster's OBS alerts overlay shows the sub and the cheer.
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../../scripts/lib/platform.ts';
import { type Platform, startPlatform } from './harness.ts';
import { ApiClient, type SignedUp, uniqueName } from './lib/api.ts';
import { collectPageErrors, launchWebBrowser, openContext } from './web-pages.ts';

let platform: Platform;
let browser: Browser;
let streamer: SignedUp;
const contexts: BrowserContext[] = [];

async function newPage(token?: string): Promise<Page> {
  const context = await openContext(browser, token === undefined ? {} : { token });
  contexts.push(context);
  return context.newPage();
}

/** Clicks a support button on the watch page, pays on the fake checkout page, lands back on the channel. */
async function payThroughCheckout(page: Page, button: string): Promise<void> {
  await page.getByRole('button', { name: button, exact: true }).click();
  await page.waitForURL(/\/api\/v1\/payments\/fake-checkout\//, { timeout: 15_000 });
  await page.getByRole('button', { name: /^Pay / }).click();
  await page.waitForURL(`${platform.baseUrl}/${streamer.channel.name}`, { timeout: 15_000 });
}

describe('paying a channel in a real browser', () => {
  beforeAll(async () => {
    platform = await startPlatform();
    browser = await launchWebBrowser();
    streamer = await new ApiClient(platform.baseUrl).signup(uniqueName('earner'));
  });

  afterAll(async () => {
    for (const context of contexts) await context.close();
    await browser?.close();
    await platform?.stop();
  });

  it('subscribes through the fake checkout, shows the badge in chat, cheers, and the alerts overlay shows both', async () => {
    const overlay = await newPage();
    await overlay.goto(`${platform.baseUrl}/overlay/alerts/${streamer.channel.name}`);
    expect(await overlay.evaluate(() => getComputedStyle(document.body).backgroundColor)).toBe(
      'rgba(0, 0, 0, 0)',
    );

    const viewerApi = new ApiClient(platform.baseUrl);
    const viewer = await viewerApi.signup(uniqueName('patron'));
    const watch = await newPage(viewer.token);
    const errors = collectPageErrors(watch);
    await watch.goto(`${platform.baseUrl}/${streamer.channel.name}`);
    await payThroughCheckout(watch, 'Subscribe');
    const subAlert = overlay.locator('.overlay-alert[data-kind="sub"]');
    await subAlert.waitFor({ timeout: 20_000 });
    expect(await subAlert.textContent()).toContain(`${viewer.user.username.toLowerCase()} just subscribed!`);

    await watch.locator('.chat-status-open').waitFor({ timeout: 15_000 });
    await watch.fill('#chat-input', 'first message as a sub');
    await watch.press('#chat-input', 'Enter');
    const line = watch.locator('li.chat-line', { hasText: 'first message as a sub' });
    await line.waitFor({ timeout: 15_000 });
    // The room takes one message per user per 1.5 s: the bits checkout can be quicker than that.
    const firstSentAt = Date.now();
    expect(await line.locator('.chat-badge-subscriber').getAttribute('title')).toContain('1 months');

    await payThroughCheckout(watch, 'Get 100 bits');
    await waitFor(
      'the bits purchase to be applied',
      async () => {
        const answer = await viewerApi.request<{ balance: number }>('GET', '/payments/bits/balance');
        return answer.body.balance === 100 ? true : undefined;
      },
      20_000,
    );
    await watch.locator('.chat-status-open').waitFor({ timeout: 15_000 });
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, firstSentAt + 1_600 - Date.now())));
    await watch.fill('#chat-input', 'Cheer100 for the run');
    await watch.press('#chat-input', 'Enter');
    await watch
      .locator('li.chat-line', { hasText: 'Cheer100 for the run' })
      .waitFor({ timeout: 15_000 })
      .catch(async (error: unknown) => {
        throw new Error(`${String(error)}; chat shows: ${await watch.locator('.chat-panel').textContent()}`);
      });
    const cheerAlert = overlay.locator('.overlay-alert[data-kind="cheer"]');
    await cheerAlert.waitFor({ timeout: 30_000 });
    expect(await cheerAlert.textContent()).toContain('cheered 100 bits!');
    expect((await viewerApi.request<{ balance: number }>('GET', '/payments/bits/balance')).body.balance).toBe(
      0,
    );
    expect(errors).toEqual([]);
  });
});
