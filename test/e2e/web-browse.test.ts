// Browsing in Chromium against a running platform: the home page and a category directory list a
// real live stream (ffmpeg → RTMP → transcoder), search finds it by channel name and by title,
// the OBS chat overlay shows chat, the dashboard's role and emote panels work against the API, a
// raid lands on a fresh watch page, an offline channel auto-hosting the live one plays it, and a
// phone-sized screen never scrolls sideways.
import type { Browser, BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../../scripts/lib/platform.ts';
import { type Platform, startPlatform } from './harness.ts';
import { ApiClient, type SignedUp, uniqueName } from './lib/api.ts';
import { type Publisher, publishTestPattern } from './lib/publisher.ts';
import {
  collectPageErrors,
  drawPngImage,
  hasHorizontalScroll,
  launchWebBrowser,
  openContext,
  sampleWatchPlayer,
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

  it('adds and removes a moderator and a VIP in the dashboard panels, which list them from the API', async () => {
    const member = await new ApiClient(platform.baseUrl).signup(uniqueName('member'));
    const api = new ApiClient(platform.baseUrl, streamer.token);
    const page = await (await newContext({ token: streamer.token })).newPage();
    const errors = collectPageErrors(page);
    await page.goto(`${platform.baseUrl}/dashboard`);
    for (const { panel, label, path } of [
      { panel: 'Moderators', label: 'moderator', path: 'moderators' },
      { panel: 'VIPs', label: 'VIP', path: 'vips' },
    ]) {
      const section = page.getByRole('region', { name: panel });
      await section.getByText(`No ${label}s yet.`).waitFor({ timeout: 15_000 });
      await section.getByLabel(`Username to add as ${label}`).fill(member.user.username);
      await section.getByRole('button', { name: `Add ${label}` }).click();
      const row = section.getByRole('listitem').filter({ hasText: member.user.username });
      await row.waitFor({ timeout: 10_000 });
      expect(await section.getByRole('status').textContent()).toBe(
        `${member.user.username} is now a ${label}.`,
      );
      const listed = await api.request<{ data: { user_id: string }[] }>(
        'GET',
        `/channels/${streamer.channel.id}/${path}`,
      );
      expect(listed.body.data.map((item) => item.user_id)).toEqual([member.user.id]);

      await section.getByRole('button', { name: `Remove ${member.user.username} as ${label}` }).click();
      await section.getByText(`No ${label}s yet.`).waitFor({ timeout: 10_000 });
      const after = await api.request<{ data: unknown[] }>('GET', `/channels/${streamer.channel.id}/${path}`);
      expect(after.body.data).toEqual([]);
    }
    expect(errors).toEqual([]);
  });

  it('uploads a PNG emote file from the dashboard, shows its image, refuses a file over 256 KiB, and deletes it', async () => {
    const api = new ApiClient(platform.baseUrl, streamer.token);
    const page = await (await newContext({ token: streamer.token })).newPage();
    const errors = collectPageErrors(page);
    await page.goto(`${platform.baseUrl}/dashboard`);
    const section = page.getByRole('region', { name: 'Emotes' });
    await section.getByText('No channel emotes yet.').waitFor({ timeout: 15_000 });

    const name = `hype${Math.random().toString(36).slice(2, 8)}`;
    await section.getByLabel(/^Emote name/).fill(name);
    await section.getByLabel(/^Image/).setInputFiles({
      name: 'hype.png',
      mimeType: 'image/png',
      buffer: await drawPngImage(page, 28),
    });
    await section.getByLabel('Only for subscribers').check();
    await section.getByRole('button', { name: 'Add emote' }).click();
    const item = section.locator(`[data-emote="${name}"]`);
    await item.waitFor({ timeout: 10_000 });
    expect(await item.textContent()).toContain('Subscribers');
    // The listed image is the uploaded PNG, served back by the API and decoded by the browser.
    await expect
      .poll(() => item.locator('img').evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth))
      .toBe(28);
    const listed = await api.request<{ emotes: { name: string; subscriber_only: boolean }[] }>(
      'GET',
      `/channels/${streamer.channel.id}/emotes`,
    );
    expect(listed.body.emotes).toEqual([expect.objectContaining({ name, subscriber_only: true })]);

    await section.getByLabel(/^Emote name/).fill(`big${name}`);
    await section.getByLabel(/^Image/).setInputFiles({
      name: 'big.png',
      mimeType: 'image/png',
      buffer: Buffer.alloc(300 * 1024, 1),
    });
    await section.getByRole('button', { name: 'Add emote' }).click();
    await expect.poll(() => section.getByRole('status').textContent()).toMatch(/at most 256 KiB/);

    await section.getByRole('button', { name: `Delete emote ${name}` }).click();
    await section.getByText('No channel emotes yet.').waitFor({ timeout: 10_000 });
    const after = await api.request<{ emotes: unknown[] }>('GET', `/channels/${streamer.channel.id}/emotes`);
    expect(after.body.emotes).toEqual([]);
    expect(errors).toEqual([]);
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

    it("plays a live channel on an offline channel's page when the offline channel auto-hosts it", async () => {
      // Signups are limited per network (5 an hour, the strict limits tests run with), and this file
      // signs up more users than that: the host signs up from an address of its own.
      const signup = await fetch(`${platform.baseUrl}/api/v1/auth/signup`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'CF-Connecting-IP': '198.51.100.21' },
        body: JSON.stringify({ username: uniqueName('host'), password: 'correct-horse-battery' }),
      });
      expect(signup.status).toBe(201);
      const host = (await signup.json()) as SignedUp;
      const context = await newContext({ token: host.token });
      const dashboard = await context.newPage();
      await dashboard.goto(`${platform.baseUrl}/dashboard`);
      await dashboard.fill('#auto-host-add', streamer.channel.name);
      await dashboard.getByRole('button', { name: 'Add', exact: true }).click();
      await dashboard.locator('.auto-host [role="status"]').getByText('Saved.').waitFor({ timeout: 10_000 });
      expect(await dashboard.locator('.auto-host-list li').allTextContents()).toEqual([
        expect.stringContaining(streamer.channel.name),
      ]);
      const page = await context.newPage();
      const errors = collectPageErrors(page);
      await page.goto(`${platform.baseUrl}/${host.channel.name}`);
      const banner = page.locator('.hosting-banner');
      await banner.waitFor({ timeout: 15_000 });
      expect((await banner.textContent())?.toLowerCase()).toContain(`is hosting ${streamer.channel.name}`);
      // The hosted stream really plays: the video's clock advances with no fatal hls.js error.
      await expect
        .poll(async () => (await sampleWatchPlayer(page)).currentTime, { timeout: 25_000, interval: 500 })
        .toBeGreaterThan(2);
      expect((await sampleWatchPlayer(page)).fatalErrors).toBe(0);
      await banner.getByRole('link').click();
      await page.waitForURL(`**/${streamer.channel.name}`, { timeout: 10_000 });
      expect(errors).toEqual([]);
    });

    // A raid needs a live source channel (a raid from an offline channel is refused), so the live
    // streamer raids a fresh channel; it runs last in this group because it sends viewers away.
    it("starts the raided channel's watch page fresh: a follow of the raiding channel does not carry over", async () => {
      const target = await new ApiClient(platform.baseUrl).signup(uniqueName('raided'));
      const fan = await new ApiClient(platform.baseUrl).signup(uniqueName('fan'));
      const page = await (await newContext({ token: fan.token })).newPage();
      await page.goto(`${platform.baseUrl}/${streamer.channel.name}`);
      await page.locator('.chat-status-open').waitFor({ timeout: 15_000 });
      await page.getByRole('button', { name: 'Follow', exact: true }).click();
      await page.getByRole('button', { name: 'Unfollow' }).waitFor({ timeout: 10_000 });

      const raid = await new ApiClient(platform.baseUrl, streamer.token).request(
        'POST',
        `/channels/${streamer.channel.id}/raids`,
        { to_channel: target.channel.name },
      );
      expect(raid.status).toBe(201);
      await page.waitForURL(`**/${target.channel.name}`, { timeout: 15_000 });
      await page.locator('.raid-banner').waitFor({ timeout: 10_000 });
      await expect.poll(() => page.locator('h1.channel-name').textContent()).toContain(target.channel.name);
      // The fan follows the raider, not the raided channel: its button offers to follow.
      const follow = page.locator('.stream-actions button[aria-pressed]');
      await expect.poll(() => follow.textContent(), { timeout: 10_000 }).toBe('Follow');
      expect(await follow.getAttribute('aria-pressed')).toBe('false');
    });
  });
});
