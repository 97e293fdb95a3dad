// An ad break in Chromium on a real live stream (ffmpeg → RTMP → transcoder → origin → hls.js): the
// streamer starts it from the dashboard API, the live playlists carry it as an HLS interstitial,
// a viewer's hls.js fetches the asset list and plays the house ad, and a subscriber's player (which
// sends its token on that request only) gets an empty list and never loads the ad. The viewer's
// impression is counted.
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../../scripts/lib/platform.ts';
import { type Platform, startPlatform } from './harness.ts';
import { ApiClient, type SignedUp, uniqueName, waitForSegments } from './lib/api.ts';
import { type Publisher, publishTestPattern } from './lib/publisher.ts';
import { collectPageErrors, launchWebBrowser, openContext } from './web-pages.ts';

let platform: Platform;
let browser: Browser;
let publisher: Publisher | undefined;
let streamer: SignedUp;
let streamerApi: ApiClient;
const contexts: BrowserContext[] = [];

async function newPage(token?: string): Promise<{ page: Page; requests: string[] }> {
  const context = await openContext(browser, token === undefined ? {} : { token });
  contexts.push(context);
  const page = await context.newPage();
  const requests: string[] = [];
  page.on('request', (request) => requests.push(new URL(request.url()).pathname));
  return { page, requests };
}

async function waitForPlaying(page: Page): Promise<void> {
  await waitFor(
    'the watch page to play',
    async () =>
      (await page.evaluate(
        () => (document.querySelector<HTMLVideoElement>('.player video')?.currentTime ?? 0) > 0,
      ))
        ? true
        : undefined,
    60_000,
    250,
  );
}

describe('ad breaks in a real browser', () => {
  beforeAll(async () => {
    platform = await startPlatform({ transcoder: true });
    streamerApi = new ApiClient(platform.baseUrl);
    streamer = await streamerApi.signup(uniqueName('adhost'));
    const { stream_key } = await streamerApi.streamKey(streamer.channel.id);
    publisher = publishTestPattern(`${platform.rtmpUrl}/${stream_key}`, { size: '320x180' });
    await waitForSegments(platform.baseUrl, streamer.channel.id, 3);
    browser = await launchWebBrowser();
  });

  afterAll(async () => {
    for (const context of contexts) await context.close();
    await publisher?.stop('SIGKILL');
    await browser?.close();
    await platform?.stop();
  });

  it("plays the break as an interstitial for a viewer and skips it for a subscriber; the viewer's impression is counted", async () => {
    const subscriberApi = new ApiClient(platform.baseUrl);
    const subscriber = await subscriberApi.signup(uniqueName('adfree'));
    const sub = await newPage(subscriber.token);
    await sub.page.goto(`${platform.baseUrl}/${streamer.channel.name}`);
    await sub.page.getByRole('button', { name: 'Subscribe', exact: true }).click();
    await sub.page.waitForURL(/\/api\/v1\/payments\/fake-checkout\//, { timeout: 15_000 });
    await sub.page.getByRole('button', { name: /^Pay / }).click();
    await sub.page.waitForURL(`${platform.baseUrl}/${streamer.channel.name}`, { timeout: 15_000 });

    const viewer = await newPage();
    const errors = collectPageErrors(viewer.page);
    await viewer.page.goto(`${platform.baseUrl}/${streamer.channel.name}`);
    await Promise.all([waitForPlaying(viewer.page), waitForPlaying(sub.page)]);

    const started = await streamerApi.request<{ id: string }>(
      'POST',
      `/payments/channels/${streamer.channel.id}/ad-breaks`,
      { duration_seconds: 30 },
    );
    expect(started.status).toBe(201);
    const assetList = `/api/v1/payments/ad-breaks/${started.body.id}/asset-list`;

    // The viewer's hls.js reaches the break, asks for its assets and loads the house ad.
    await waitFor(
      "the viewer's player to load the ad",
      async () => (viewer.requests.some((path) => path.startsWith('/ads/house-ad-10s')) ? true : undefined),
      45_000,
      250,
    );
    expect(viewer.requests).toContain(assetList);
    // The subscriber's player asked too, got nothing, and loads no ad.
    await waitFor(
      "the subscriber's player to ask for the break's assets",
      async () => (sub.requests.includes(assetList) ? true : undefined),
      45_000,
      250,
    );
    await new Promise((resolve) => setTimeout(resolve, 3000));
    expect(sub.requests.filter((path) => path.startsWith('/ads/'))).toEqual([]);

    const earnings = await streamerApi.request<{ ad_impressions: number }>(
      'GET',
      `/payments/channels/${streamer.channel.id}/earnings`,
    );
    expect(earnings.body.ad_impressions).toBe(1);
    expect(errors).toEqual([]);
  });
});
