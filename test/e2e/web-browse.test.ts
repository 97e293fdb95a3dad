// Browsing in Chromium against a running platform: the home page and a category directory list a
// real live stream (ffmpeg → RTMP → transcoder), search finds it by channel name and by title,
// the OBS chat overlay shows chat, and a phone-sized screen never scrolls sideways.
import type { Browser, BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../../scripts/lib/platform.ts';
import { type Platform, startPlatform } from './harness.ts';
import { ApiClient, type SignedUp, uniqueName } from './lib/api.ts';
import { type Publisher, publishTestPattern } from './lib/publisher.ts';
import {
  collectPageErrors,
  hasHorizontalScroll,
  launchWebBrowser,
  openContext,
  takeScreenshot,
} from './web-pages.ts';

interface Category {
  slug: string;
  name: string;
}

let platform: Platform;
let browser: Browser;
let publisher: Publisher | undefined;
let streamer: SignedUp;
let category: Category;
let otherCategory: Category;
let streamId = '';
const titleWord = `zebra${Math.random().toString(36).slice(2, 7)}`;
const contexts: BrowserContext[] = [];

async function newContext(options: Parameters<typeof openContext>[1] = {}): Promise<BrowserContext> {
  const context = await openContext(browser, options);
  contexts.push(context);
  return context;
}

describe('browsing the web app in a real browser', () => {
  beforeAll(async () => {
    // The transcoder starts only for the tests that need a live stream (the second group).
    platform = await startPlatform();
    browser = await launchWebBrowser();
    const api = new ApiClient(platform.baseUrl);
    streamer = await api.signup(uniqueName('browse'));
    const categories = await api.request<{ data: Category[] }>('GET', '/categories');
    const [first, second] = categories.body.data;
    if (!first || !second) throw new Error('the seeded categories are missing');
    category = first;
    otherCategory = second;
    const patch = await api.request('PATCH', `/channels/${streamer.channel.id}`, {
      title: `Speedrunning the ${titleWord} level`,
      category: category.slug,
    });
    expect(patch.status).toBe(200);
  });

  afterAll(async () => {
    await publisher?.stop('SIGKILL');
    for (const context of contexts) await context.close();
    await browser?.close();
    await platform?.stop();
  });

  it('finds a channel by its name with the home search box', async () => {
    const page = await (await newContext()).newPage();
    await page.goto(platform.baseUrl);
    await page.fill('#home-search-input', streamer.channel.name);
    await page.press('#home-search-input', 'Enter');
    await page.locator('.channel-list a', { hasText: streamer.channel.name }).waitFor({ timeout: 15_000 });
  });

  it('renders chat in the transparent OBS overlay as it is sent from the watch page', async () => {
    const overlay = await (await newContext()).newPage();
    await overlay.goto(`${platform.baseUrl}/overlay/chat/${streamer.channel.name}`);
    const background = await overlay.evaluate(() => getComputedStyle(document.body).backgroundColor);
    expect(background).toBe('rgba(0, 0, 0, 0)');
    expect(await overlay.locator('header').count()).toBe(0);

    const chatter = await new ApiClient(platform.baseUrl).signup(uniqueName('chatter'));
    const watch = await (await newContext({ token: chatter.token })).newPage();
    await watch.goto(`${platform.baseUrl}/${streamer.channel.name}`);
    await watch.locator('.chat-status-open').waitFor({ timeout: 15_000 });
    const text = `overlay check <b>${Math.random().toString(36).slice(2, 8)}</b>`;
    await watch.fill('#chat-input', text);
    await watch.press('#chat-input', 'Enter');

    const line = overlay.locator('.overlay-chat li.chat-line', { hasText: text });
    await line.waitFor({ timeout: 15_000 });
    // Chat text is text: the markup a chatter typed is shown, never parsed.
    expect(await line.locator('.chat-content').textContent()).toBe(text);
    expect(await line.locator('b').count()).toBe(0);
    expect(await line.evaluate((el) => getComputedStyle(el.closest('ol') ?? el).textShadow)).not.toBe('none');
  });

  it('never scrolls sideways on a phone-sized screen (home, watch, directory, dashboard)', async () => {
    const context = await newContext({ token: streamer.token, viewport: { width: 390, height: 844 } });
    const page = await context.newPage();
    for (const path of ['/', `/${streamer.channel.name}`, `/directory/${category.slug}`, '/dashboard']) {
      await page.goto(`${platform.baseUrl}${path}`);
      await page.locator('main').waitFor({ timeout: 15_000 });
      await page.waitForLoadState('networkidle', { timeout: 5_000 }).catch(() => undefined);
      expect(await hasHorizontalScroll(page), `horizontal scroll on ${path}`).toBe(false);
    }
  });
  describe('with a live stream', () => {
    beforeAll(async () => {
      await platform.startTranscoder();
      const api = new ApiClient(platform.baseUrl, streamer.token);
      const { stream_key } = await api.streamKey(streamer.channel.id);
      publisher = publishTestPattern(`${platform.rtmpUrl}/${stream_key}`);
      // Live, with the transcoder's first JPEG thumbnail already stored (the card shows it).
      const live = await waitFor(
        'the stream to go live with a thumbnail',
        async () => {
          const res = await api.request<{ stream_id: string; thumbnail_url: string | null }>(
            'GET',
            `/streams/${streamer.channel.id}/live`,
          );
          return res.status === 200 && res.body.thumbnail_url ? res.body : undefined;
        },
        30_000,
        250,
      );
      streamId = live.stream_id;
    });

    it('lists the live stream on the home page with its title, channel, category and viewers, under the categories row', async () => {
      const page = await (await newContext()).newPage();
      const errors = collectPageErrors(page);
      await page.goto(platform.baseUrl);
      const card = page.locator(`[data-stream-id="${streamId}"]`);
      await card.waitFor({ timeout: 15_000 });
      await expect.poll(() => card.textContent()).toContain(titleWord);
      const text = (await card.textContent()) ?? '';
      expect(text).toContain(streamer.channel.name);
      expect(text).toContain(category.name);
      expect(text).toMatch(/\d+ viewers/);
      // The thumbnail is a real JPEG the browser decodes.
      await expect
        .poll(() => card.locator('img').evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth))
        .toBeGreaterThan(0);
      const chips = await page.locator('.category-row .category-chip').allTextContents();
      expect(chips.some((chip) => chip.includes(category.name))).toBe(true);
      await takeScreenshot(page, 'home');
      expect(errors).toEqual([]);
    });

    it("shows the stream in its category's directory and not in another's", async () => {
      const page = await (await newContext()).newPage();
      await page.goto(`${platform.baseUrl}/directory/${category.slug}`);
      await page.locator(`[data-stream-id="${streamId}"]`).waitFor({ timeout: 15_000 });
      expect(await page.locator('h1').textContent()).toBe(category.name);

      await page.goto(`${platform.baseUrl}/directory/${otherCategory.slug}`);
      await page.locator('.empty').waitFor({ timeout: 15_000 });
      expect(await page.locator(`[data-stream-id="${streamId}"]`).count()).toBe(0);
    });

    it('finds the live stream by a word of its title', async () => {
      const page = await (await newContext()).newPage();
      await page.goto(platform.baseUrl);
      await page.fill('#home-search-input', titleWord);
      await page.press('#home-search-input', 'Enter');
      await page.locator(`[data-stream-id="${streamId}"]`).waitFor({ timeout: 15_000 });
      expect(page.url()).toContain(`q=${titleWord}`);
    });
  });
});
