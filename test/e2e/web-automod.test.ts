// AutoMod in real browsers: with it on, a viewer's shouted message is held (the viewer is told, no
// one else sees it), the broadcaster finds it in the dashboard's AutoMod queue and approves it, and
// only then does it reach another viewer's chat, once.
import type { Browser, BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Platform, startPlatform } from './harness.ts';
import { ApiClient, type SignedUp, uniqueName } from './lib/api.ts';
import { collectPageErrors, launchWebBrowser, openContext } from './web-pages.ts';

let platform: Platform;
let browser: Browser;
const contexts: BrowserContext[] = [];

async function newContext(token?: string): Promise<BrowserContext> {
  const context = await openContext(browser, token === undefined ? {} : { token });
  contexts.push(context);
  return context;
}

/** Signups are limited per network (the strict limits tests run with): one address per user. */
async function signupFrom(address: string, prefix: string): Promise<SignedUp> {
  const res = await fetch(`${platform.baseUrl}/api/v1/auth/signup`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'CF-Connecting-IP': address },
    body: JSON.stringify({ username: uniqueName(prefix), password: 'correct-horse-battery' }),
  });
  expect(res.status).toBe(201);
  return (await res.json()) as SignedUp;
}

describe('AutoMod held messages in the web app', () => {
  beforeAll(async () => {
    platform = await startPlatform({ transcoder: false });
    browser = await launchWebBrowser();
  });

  afterAll(async () => {
    for (const context of contexts) await context.close();
    await browser?.close();
    await platform?.stop();
  });

  it('holds a shouted message until the broadcaster approves it in the dashboard, then shows it once', async () => {
    const streamer = await signupFrom('198.51.100.31', 'automod');
    const viewer = await signupFrom('198.51.100.32', 'shouter');
    const settings = await new ApiClient(platform.baseUrl, streamer.token).request(
      'PATCH',
      `/channels/${streamer.channel.id}/chat/settings`,
      { automod: true },
    );
    expect(settings.status).toBe(200);
    const shout = `LOOK AT THIS ${Math.random().toString(36).slice(2, 8).toUpperCase()} RIGHT NOW`;

    const watcher = await (await newContext()).newPage();
    await watcher.goto(`${platform.baseUrl}/${streamer.channel.name}`);
    await watcher.locator('.chat-status-open').waitFor({ timeout: 15_000 });

    const sender = await (await newContext(viewer.token)).newPage();
    const errors = collectPageErrors(sender);
    await sender.goto(`${platform.baseUrl}/${streamer.channel.name}`);
    await sender.locator('.chat-status-open').waitFor({ timeout: 15_000 });
    await sender.fill('#chat-input', shout);
    await sender.press('#chat-input', 'Enter');
    // The sender is told it is held; nobody sees it yet.
    await sender.getByText('being checked by mods').waitFor({ timeout: 10_000 });
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(await watcher.getByText(shout).count()).toBe(0);

    const dashboard = await (await newContext(streamer.token)).newPage();
    await dashboard.goto(`${platform.baseUrl}/dashboard`);
    const held = dashboard.locator('.automod-queue li', { hasText: shout });
    await held.waitFor({ timeout: 15_000 });
    await held.getByRole('button', { name: 'Approve' }).click();
    await expect.poll(() => held.count(), { timeout: 10_000 }).toBe(0);

    // Approved: it reaches the other viewer's chat, from the sender, exactly once.
    await watcher.getByText(shout).waitFor({ timeout: 10_000 });
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(await watcher.getByText(shout).count()).toBe(1);
    expect(errors).toEqual([]);
  });
});
