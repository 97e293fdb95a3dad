// The web app's whole live flow in Chromium: a streamer signs up and reveals the key on the
// dashboard, ffmpeg publishes with it over RTMP, a viewer's watch page plays the LL-HLS stream
// with hls.js, chat crosses between two browsers, the broadcaster bans a chatter with the keyboard,
// a clip is made and plays, the channel page shows the streamer's schedule, a follower's bell counts the "went live" notification, a category
// change while live becomes a chapter, and after the stream ends the channel and the dashboard's
// preview go offline and the VOD plays and seeks to that chapter.
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../../scripts/lib/platform.ts';
import { type Platform, startPlatform } from './harness.ts';
import { ApiClient, type SignedUp, uniqueName, waitForSegments } from './lib/api.ts';
import { type Publisher, publishTestPattern } from './lib/publisher.ts';
import {
  collectPageErrors,
  launchWebBrowser,
  openContext,
  pressTabUntilFocused,
  readTimeToFirstFrame,
  sampleWatchPlayer,
  takeScreenshot,
} from './web-pages.ts';

const RECONNECT_WINDOW_SECONDS = 5;
const PASSWORD = 'correct-horse-battery';

interface LiveStream {
  stream_id: string;
  manifest_url: string;
}

let platform: Platform;
let browser: Browser;
let publisher: Publisher | undefined;
const contexts: BrowserContext[] = [];

// Filled in as the flow goes: each step builds on the ones before it.
let streamerName = '';
let streamerToken = '';
let channelId = '';
let streamKey = '';
let streamerPage: Page;
let viewer: SignedUp;
let viewerPage: Page | undefined;
let viewerErrors: string[] = [];
let dashboardPage: Page | undefined;
let follower: SignedUp;
let chapterLiveStreamId = '';

async function newPage(token?: string): Promise<Page> {
  const context = await openContext(browser, token === undefined ? {} : { token });
  contexts.push(context);
  return context.newPage();
}

/** The signed-in viewer's page on the streamer's channel, opened by whichever step needs it first. */
async function openViewerPage(): Promise<Page> {
  if (viewerPage === undefined) {
    viewer = await new ApiClient(platform.baseUrl).signup(uniqueName('viewer'));
    viewerPage = await newPage(viewer.token);
    viewerErrors = collectPageErrors(viewerPage);
    await viewerPage.goto(`${platform.baseUrl}/${streamerName}`);
  }
  return viewerPage;
}

async function getLive(id: string): Promise<LiveStream | undefined> {
  const res = await new ApiClient(platform.baseUrl).request<LiveStream>('GET', `/streams/${id}/live`);
  return res.status === 200 ? res.body : undefined;
}

describe('the web app, live, in a real browser', () => {
  beforeAll(async () => {
    // The transcoder starts with the publish step, so the steps before it stand on their own.
    platform = await startPlatform({
      vars: { RECONNECT_WINDOW_SECONDS: String(RECONNECT_WINDOW_SECONDS) },
    });
    browser = await launchWebBrowser();
  });

  afterAll(async () => {
    await publisher?.stop('SIGKILL');
    for (const context of contexts) await context.close();
    await browser?.close();
    await platform?.stop();
  });

  it('signs a streamer up and shows the stream key on the dashboard only once revealed', async () => {
    streamerName = uniqueName('web');
    streamerPage = await newPage();
    await streamerPage.goto(`${platform.baseUrl}/signup`);
    await streamerPage.fill('#auth-username', streamerName);
    await streamerPage.fill('#auth-password', PASSWORD);
    await streamerPage.getByRole('button', { name: 'Sign up' }).click();
    await streamerPage.waitForURL('**/dashboard', { timeout: 15_000 });

    const keyInput = streamerPage.locator('#stream-key');
    await keyInput.waitFor({ timeout: 15_000 });
    expect(await keyInput.getAttribute('type')).toBe('password');
    await streamerPage.getByRole('button', { name: 'Reveal' }).click();
    expect(await keyInput.getAttribute('type')).toBe('text');
    streamKey = await keyInput.inputValue();
    expect(await streamerPage.locator('#ingest-url').inputValue()).toBe(platform.rtmpUrl);

    streamerToken = await streamerPage.evaluate(() => window.localStorage.getItem('edgestream.token') ?? '');
    const api = new ApiClient(platform.baseUrl, streamerToken);
    const me = await api.request<{ channel: { id: string } }>('GET', '/users/me');
    channelId = me.body.channel.id;
    // The key the dashboard shows is the key the API hands out for this channel.
    expect(streamKey).toBe((await api.streamKey(channelId)).stream_key);
    // A follower from before the stream, for the notification step.
    const followerApi = new ApiClient(platform.baseUrl);
    follower = await followerApi.signup(uniqueName('fan'));
    expect((await followerApi.request('POST', `/channels/${channelId}/follow`)).status).toBe(204);
  });

  it("shows the streamer's weekly schedule on the channel page", async () => {
    const api = new ApiClient(platform.baseUrl, streamerToken);
    const segments = [
      { weekday: 1, start_time: '19:00', duration_minutes: 120, title: 'Monday build', category: 'art' },
    ];
    const res = await api.request('PUT', `/channels/${channelId}/schedule`, {
      timezone: 'Europe/Berlin',
      segments,
    });
    expect(res.status).toBe(200);
    const page = await newPage(follower.token);
    await page.goto(`${platform.baseUrl}/${streamerName}`);
    const schedule = page.getByRole('region', { name: 'Schedule' });
    await schedule.getByText('Monday 19:00–21:00').waitFor({ timeout: 15_000 });
    expect(await schedule.textContent()).toContain('Europe/Berlin');
    await page.context().close();
  });

  it('plays the stream on the watch page once ffmpeg publishes with that key, with every rendition in the quality menu', async () => {
    await platform.startTranscoder();
    publisher = publishTestPattern(`${platform.rtmpUrl}/${streamKey}`);
    const live = await waitFor('the stream to go live', () => getLive(channelId), 30_000, 250);
    const viewerPage = await openViewerPage();

    const first = await waitFor(
      'the watch page to start playing',
      async () => {
        const sample = await sampleWatchPlayer(viewerPage);
        return sample.currentTime > 0 ? sample : undefined;
      },
      30_000,
      250,
    );
    const timeToFirstFrame = await readTimeToFirstFrame(viewerPage);
    console.log(
      `watch page time to first frame: ${timeToFirstFrame?.toFixed(0)} ms (navigation start → first playing)`,
    );
    expect(timeToFirstFrame).not.toBeNull();

    await new Promise((resolve) => setTimeout(resolve, 6_000));
    const later = await sampleWatchPlayer(viewerPage);
    expect(later.currentTime - first.currentTime).toBeGreaterThan(4);
    expect(later.fatalErrors).toBe(0);
    expect(later.state).toBe('playing');

    const master = await (await fetch(live.manifest_url)).text();
    // hls.js leaves the audio-only variant out of its levels when video variants exist, so the menu
    // lists every video rendition of the multivariant playlist.
    const renditions = master
      .split('\n')
      .filter((line) => line.startsWith('#EXT-X-STREAM-INF') && line.includes('RESOLUTION=')).length;
    expect(renditions).toBeGreaterThan(0);
    const options = await viewerPage.locator('select[aria-label="Quality"] option').allTextContents();
    expect(options[0]).toMatch(/^Auto/);
    expect(options.length - 1).toBe(renditions);
    await expect
      .poll(async () => (await viewerPage.locator('.player-latency').textContent()) ?? '', {
        timeout: 10_000,
      })
      .toMatch(/^\d+\.\d s$/);
    await takeScreenshot(viewerPage, 'watch');
    expect(viewerErrors).toEqual([]);
  });

  it('delivers a chat message sent from one browser to another', async () => {
    const viewerPage = await openViewerPage();
    await streamerPage.goto(`${platform.baseUrl}/${streamerName}`);
    await streamerPage.locator('.chat-status-open').waitFor({ timeout: 15_000 });
    await viewerPage.locator('.chat-status-open').waitFor({ timeout: 15_000 });
    const text = `hello from the viewer ${Math.random().toString(36).slice(2, 8)}`;
    await viewerPage.fill('#chat-input', text);
    await viewerPage.press('#chat-input', 'Enter');
    const line = streamerPage.locator(`li.chat-line[data-user="${viewer.user.username}"]`, { hasText: text });
    await line.waitFor({ timeout: 15_000 });
    expect(await line.locator('.chat-content').textContent()).toBe(text);
  });

  it("removes a chatter's messages everywhere when the broadcaster bans them with the keyboard from the message menu", async () => {
    const viewerPage = await openViewerPage();
    const viewerLines = (page: Page) => page.locator(`li.chat-line[data-user="${viewer.user.username}"]`);
    await viewerLines(viewerPage).first().waitFor({ timeout: 10_000 });
    // No mouse: Tab from the top of the page reaches the message's Ban button, which shows itself
    // when focused, and Enter presses it.
    await pressTabUntilFocused(streamerPage, `Ban ${viewer.user.username}`);
    await expect
      .poll(() =>
        streamerPage.evaluate(() => {
          const actions = document.activeElement?.closest('.chat-mod-actions');
          return actions ? getComputedStyle(actions).opacity : null;
        }),
      )
      .toBe('1');
    await streamerPage.keyboard.press('Enter');
    await expect.poll(() => viewerLines(streamerPage).count(), { timeout: 15_000 }).toBe(0);
    await expect.poll(() => viewerLines(viewerPage).count(), { timeout: 15_000 }).toBe(0);
  });

  it("shows the live preview and the stream's health on the streamer's dashboard", async () => {
    const page = await newPage(streamerToken);
    dashboardPage = page;
    await page.goto(`${platform.baseUrl}/dashboard`);
    await page
      .locator('[data-health="bitrate"]')
      .filter({ hasText: /\d+ kbps/ })
      .waitFor({ timeout: 20_000 });
    expect(await page.locator('[data-health="renditions"]').textContent()).not.toBe('–');
    expect(await page.locator('[data-health="viewers"]').textContent()).toMatch(/^\d+$/);
    // What the transcoder measured of the source, from its heartbeats (docs/web.md, "Stream health").
    await page
      .locator('[data-health="keyframes"]')
      .filter({ hasText: /^\d+\.\d s$/ })
      .waitFor({ timeout: 20_000 });
    await page
      .locator('[data-health="bitrate-in"]')
      .filter({ hasText: /^\d+ kbps$/ })
      .waitFor({ timeout: 20_000 });
    await takeScreenshot(page, 'dashboard');
  });

  it('makes a clip of the last 30 seconds with the Clip button and plays it', async () => {
    // The last 30 seconds must exist: 16 whole segments of 2 s.
    await waitForSegments(platform.baseUrl, channelId, 16);
    await streamerPage.getByRole('button', { name: 'Clip the last 30 seconds' }).click();
    await streamerPage.waitForURL('**/clip/**', { timeout: 15_000 });
    await expect
      .poll(
        () =>
          streamerPage.evaluate(
            () => document.querySelector<HTMLVideoElement>('.clip-page video')?.currentTime ?? 0,
          ),
        { timeout: 90_000, interval: 1_000 },
      )
      .toBeGreaterThan(0);
  });

  it("counts the went-live notification on a follower's bell and lists it", async () => {
    const page = await newPage(follower.token);
    await page.goto(`${platform.baseUrl}/`);
    // The bell reads its count when the page loads: reload until the queue has written it.
    await expect
      .poll(
        async () => {
          await page.reload();
          return page
            .locator('[data-testid="unread-count"]')
            .textContent({ timeout: 3_000 })
            .catch(() => null);
        },
        { timeout: 30_000, interval: 1_000 },
      )
      .toBe('1');
    await page.getByRole('button', { name: 'Notifications, 1 unread' }).click();
    await page
      .getByRole('dialog', { name: 'Notifications' })
      .getByText(`${streamerName} went live`)
      .waitFor();
    await page.getByRole('button', { name: 'Mark all read' }).click();
    await page.locator('[data-testid="unread-count"]').waitFor({ state: 'detached', timeout: 10_000 });
  });

  it('makes a category change while live a chapter of the stream', async () => {
    const api = new ApiClient(platform.baseUrl, streamerToken);
    const live = await getLive(channelId);
    if (!live) throw new Error('the stream is not live');
    chapterLiveStreamId = live.stream_id;
    const before = await fetch(`${platform.baseUrl}/live/${channelId}/source.m3u8`).then((r) => r.text());
    const segments = before
      .split('\n')
      .filter((line) => line.endsWith('.m4s') && !line.startsWith('#')).length;
    const res = await api.request('PATCH', `/streams/${live.stream_id}`, { category: 'art' });
    expect(res.status).toBe(200);
    // Let the new chapter run a few segments before the stream ends.
    await waitForSegments(platform.baseUrl, channelId, segments + 4);
  });

  it('shows the offline screen when the stream ends, then plays the VOD', async () => {
    await publisher?.stop('SIGINT');
    publisher = undefined;
    const viewerPage = await openViewerPage();
    await viewerPage.locator('.offline-screen').waitFor({ timeout: (RECONNECT_WINDOW_SECONDS + 40) * 1000 });
    // The dashboard left open since the stream was live drops its preview too (its health poll is
    // answered 404), instead of holding on to the ended stream.
    if (dashboardPage === undefined) throw new Error('the dashboard step did not run');
    await dashboardPage
      .locator('[data-preview="offline"]', { hasText: 'You are offline' })
      .waitFor({ timeout: 30_000 });
    expect(await dashboardPage.locator('.preview .player').count()).toBe(0);

    const api = new ApiClient(platform.baseUrl, streamerToken);
    const vod = await waitFor(
      'the VOD to be listed',
      async () => {
        const res = await api.request<{ data: { id: string }[] }>('GET', `/channels/${channelId}/vods`);
        return res.status === 200 ? res.body.data[0] : undefined;
      },
      60_000,
      1_000,
    );
    await viewerPage.goto(`${platform.baseUrl}/videos/${vod.id}`);
    await expect
      .poll(async () => (await sampleWatchPlayer(viewerPage)).currentTime, { timeout: 30_000 })
      .toBeGreaterThan(1);

    // The category change is the VOD's second chapter, and a click seeks to it.
    const detail = await api.request<{
      stream_id: string;
      chapters: { start_seconds: number; category: { slug: string } | null }[];
    }>('GET', `/vods/${vod.id}`);
    expect(detail.body.stream_id).toBe(chapterLiveStreamId);
    expect(detail.body.chapters.map((chapter) => chapter.category?.slug ?? null)).toEqual([null, 'art']);
    const artStart = detail.body.chapters[1]?.start_seconds ?? 0;
    expect(artStart).toBeGreaterThan(10);
    const chapters = viewerPage.getByRole('navigation', { name: 'Chapters' });
    expect(await chapters.getByRole('button').count()).toBe(2);
    await chapters.getByRole('button', { name: /Art/ }).click();
    await expect
      .poll(async () => (await sampleWatchPlayer(viewerPage)).currentTime, { timeout: 15_000 })
      .toBeGreaterThanOrEqual(artStart - 0.5);
    expect((await sampleWatchPlayer(viewerPage)).currentTime).toBeLessThan(artStart + 6);
  });
});
