// Discovery in Chromium against a running platform (no transcoder: the streams are made live in
// the local D1, as the LiveStream object would on their first part): a signed-in viewer with no
// history sees the cold start ("Popular now"); after following a channel from its watch page, the
// home page recommends a channel its followers also follow, naming the followed channel; the
// directory's tag chips filter the live streams of a category.
import type { Browser, BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Platform, startPlatform } from './harness.ts';
import { ApiClient, type SignedUp, uniqueName } from './lib/api.ts';
import { collectPageErrors, drawPngImage, launchWebBrowser, openContext } from './web-pages.ts';

const ADMIN_TOKEN = `e2e-admin-${crypto.randomUUID()}`;
let platform: Platform;
let browser: Browser;
const contexts: BrowserContext[] = [];
let star: SignedUp;
let peer: SignedUp;
const tag = `cozy${Math.random().toString(36).slice(2, 6)}`;

async function goLive(user: SignedUp, viewers: number, tags: string[]): Promise<string> {
  const api = new ApiClient(platform.baseUrl, user.token);
  const res = await api.request<{ stream_id: string }>('POST', '/streams/start', {
    channel_id: user.channel.id,
    category: 'art',
    title: `${user.channel.name} paints`,
    tags,
  });
  expect(res.status).toBe(200);
  await platform.markStreamLive(res.body.stream_id, viewers);
  return res.body.stream_id;
}

describe('discovery in a real browser', () => {
  beforeAll(async () => {
    platform = await startPlatform({ vars: { ADMIN_TOKEN } });
    browser = await launchWebBrowser();
    star = await new ApiClient(platform.baseUrl).signup(uniqueName('star'));
    peer = await new ApiClient(platform.baseUrl).signup(uniqueName('peer'));
    await goLive(star, 50, ['English']);
    await goLive(peer, 5, [tag, 'English']);
    // Someone already follows both: "people who follow star also follow peer".
    const fan = new ApiClient(platform.baseUrl);
    await fan.signup(uniqueName('fan'));
    for (const channel of [star, peer]) {
      expect((await fan.request('POST', `/channels/${channel.channel.id}/follow`)).status).toBeLessThan(300);
    }
  });

  afterAll(async () => {
    for (const context of contexts) await context.close();
    await browser?.close();
    await platform?.stop();
  });

  it('recommendations change after a follow: cold start by popularity, then a reason naming the followed channel', async () => {
    const viewer = await new ApiClient(platform.baseUrl).signup(uniqueName('viewer'));
    const context = await openContext(browser, { token: viewer.token });
    contexts.push(context);
    const page = await context.newPage();
    const errors = collectPageErrors(page);
    await page.goto(platform.baseUrl);
    const section = page.getByRole('region', { name: 'Recommended for you' });
    const starCard = section.locator('.recommended-card', { hasText: star.channel.name });
    await starCard.waitFor({ timeout: 15_000 });
    expect(await starCard.locator('.recommendation-reason').textContent()).toBe('Popular now');

    await page.goto(`${platform.baseUrl}/${star.channel.name}`);
    await page.getByRole('button', { name: 'Follow', exact: true }).click();
    await page.getByRole('button', { name: 'Unfollow' }).waitFor({ timeout: 10_000 });

    await page.goto(platform.baseUrl);
    const peerCard = section.locator('.recommended-card', { hasText: peer.channel.name });
    await peerCard.waitFor({ timeout: 15_000 });
    await expect
      .poll(() => peerCard.locator('.recommendation-reason').textContent(), { timeout: 10_000 })
      .toBe(`Because you follow ${star.channel.name}`);
    expect(await peerCard.getAttribute('data-reason-kind')).toBe('co_follow');
    // The followed channel is in the Following rail, not in the recommendations.
    expect(await section.locator('.recommended-card .stream-channel').allTextContents()).not.toContain(
      star.channel.name,
    );
    await page.getByRole('complementary', { name: 'Following' }).getByText(star.channel.name).waitFor();
    expect(errors).toEqual([]);
  });

  it("shows operator box art and filters a category's directory by a tag chip", async () => {
    const context = await openContext(browser);
    contexts.push(context);
    const page = await context.newPage();
    // An operator uploads box art for Art (a real PNG drawn by the browser).
    await page.goto(platform.baseUrl);
    const categories = await new ApiClient(platform.baseUrl).request<{
      data: { id: number; slug: string }[];
    }>('GET', '/categories');
    const art = categories.body.data.find((c) => c.slug === 'art');
    if (!art) throw new Error('the seeded Art category is missing');
    const upload = await fetch(`${platform.baseUrl}/api/v1/categories/admin/${art.id}/box-art`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'image/png' },
      body: new Uint8Array(await drawPngImage(page, 40)),
    });
    expect(upload.status).toBe(200);

    await page.goto(`${platform.baseUrl}/directory/art`);
    await expect
      .poll(
        () =>
          page
            .locator('.directory-header img.box-art')
            .evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth),
        { timeout: 15_000 },
      )
      .toBe(40);
    const grid = page.locator('.stream-grid');
    await grid.locator('.stream-card', { hasText: star.channel.name }).waitFor({ timeout: 15_000 });
    await page.getByRole('navigation', { name: 'Filter by tag' }).getByRole('link', { name: tag }).click();
    await page.waitForURL(`**/directory/art?tag=${tag}`, { timeout: 10_000 });
    await expect.poll(() => grid.locator('.stream-card').count(), { timeout: 10_000 }).toBe(1);
    expect(await grid.locator('.stream-card').textContent()).toContain(peer.channel.name);
    // The active chip clears the filter.
    await page.locator('.tag-chip.active').click();
    await expect.poll(() => grid.locator('.stream-card').count(), { timeout: 10_000 }).toBe(2);
  });
});
