// The watch page's player controls in Chromium, on a real live stream (ffmpeg → RTMP → transcoder
// → origin → hls.js): the quality menu drives hls.js's level, the low-latency toggle moves the
// player between the LL-HLS target and the standard three-segment hold-back, and the DVR seek bar
// rewinds with the keyboard while "go live" returns to the edge, a player that fell behind on its
// own comes back to the edge (web/src/player/live-resync.ts), and a viewer with chat closed is
// counted (the player's presence signal). hls.js's state is read from the
// `data-hls-*` attributes the player mirrors onto `.player` (web/src/player/hls-player.tsx).
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../../scripts/lib/platform.ts';
import { type Platform, startPlatform } from './harness.ts';
import { ApiClient, type SignedUp, uniqueName, waitForSegments } from './lib/api.ts';
import { type Publisher, publishTestPattern } from './lib/publisher.ts';
import {
  collectPageErrors,
  launchWebBrowser,
  openContext,
  recordCspViolations,
  takeScreenshot,
} from './web-pages.ts';

interface PlayerReading {
  currentTime: number;
  paused: boolean;
  state: string | null;
  fatalErrors: number;
  /** Seconds from the playhead to the end of the seekable range (the seek bar's right end). */
  behindEdge: number;
  level: number | null;
  loadLevel: number | null;
  autoLevel: string | null;
  latency: number | null;
  lowLatency: string | null;
}

let platform: Platform;
let browser: Browser;
let publisher: Publisher | undefined;
let streamer: SignedUp;
let page: Page;
let pageErrors: string[] = [];
let readCspViolations: () => Promise<string[]>;

async function readPlayer(): Promise<PlayerReading> {
  return page.evaluate(() => {
    const player = document.querySelector<HTMLElement>('.player');
    const video = document.querySelector<HTMLVideoElement>('.player video');
    const readNumber = (value: string | undefined) => (value === undefined ? null : Number(value));
    const seekable = video?.seekable;
    const edge = seekable && seekable.length > 0 ? seekable.end(seekable.length - 1) : 0;
    return {
      currentTime: video?.currentTime ?? 0,
      paused: video?.paused ?? true,
      state: player?.dataset.state ?? null,
      fatalErrors: Number(player?.dataset.fatalErrors ?? '0'),
      behindEdge: edge - (video?.currentTime ?? 0),
      level: readNumber(player?.dataset.hlsLevel),
      loadLevel: readNumber(player?.dataset.hlsLoadLevel),
      autoLevel: player?.dataset.hlsAutoLevel ?? null,
      latency: readNumber(player?.dataset.hlsLatency),
      lowLatency: player?.dataset.lowLatency ?? null,
    };
  });
}

/** Polls the player until `accept` holds; the last reading is in the error when it never does. */
async function waitForPlayer(
  what: string,
  accept: (reading: PlayerReading) => boolean,
  timeoutMs = 30_000,
): Promise<PlayerReading> {
  let last: PlayerReading | undefined;
  try {
    return await waitFor(
      what,
      async () => {
        last = await readPlayer();
        return accept(last) ? last : undefined;
      },
      timeoutMs,
      250,
    );
  } catch (error) {
    throw new Error(`${String(error)}; last reading ${JSON.stringify(last)}`);
  }
}

/** The player is playing and its clock moves on by `seconds` of media with no fatal error. */
async function expectPlaybackContinues(seconds = 2): Promise<PlayerReading> {
  const start = await waitForPlayer('the player to be playing', (r) => r.state === 'playing' && !r.paused);
  const later = await waitForPlayer(
    `playback to advance ${seconds} s`,
    (r) => r.currentTime >= start.currentTime + seconds,
    30_000,
  );
  expect(later.state).toBe('playing');
  expect(later.fatalErrors).toBe(0);
  return later;
}

/** The median of `count` latency readings taken 500 ms apart (the player refreshes every 500 ms). */
async function sampleLatency(count = 5): Promise<number> {
  const values: number[] = [];
  for (let i = 0; i < count; i += 1) {
    const reading = await readPlayer();
    if (reading.latency !== null) values.push(reading.latency);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  if (values.length === 0) throw new Error('the player reported no latency');
  values.sort((a, b) => a - b);
  return values[Math.floor(values.length / 2)] ?? Number.NaN;
}

describe('the watch page player controls, on a live stream in a real browser', () => {
  beforeAll(async () => {
    platform = await startPlatform({ transcoder: true });
    const api = new ApiClient(platform.baseUrl);
    streamer = await api.signup(uniqueName('player'));
    // A partner gets the whole ladder: a 320x180 source gives source + 160p30 + audio, so the
    // quality menu has two video renditions to switch between.
    await platform.setChannelTier(streamer.channel.id, 'partner');
    const { stream_key } = await api.streamKey(streamer.channel.id);
    publisher = publishTestPattern(`${platform.rtmpUrl}/${stream_key}`, { size: '320x180' });
    // 10 whole segments of 2 s: the DVR window holds 20 s, more than the 10 s the test rewinds.
    await waitForSegments(platform.baseUrl, streamer.channel.id, 10);
    browser = await launchWebBrowser();
    const context = await openContext(browser);
    page = await context.newPage();
    pageErrors = collectPageErrors(page);
    readCspViolations = await recordCspViolations(page);
    await page.goto(`${platform.baseUrl}/${streamer.channel.name}`);
    await waitForPlayer('the watch page to play', (r) => r.currentTime > 0 && r.level !== null, 60_000);
  });

  afterAll(async () => {
    await publisher?.stop('SIGKILL');
    await browser?.close();
    await platform?.stop();
  });

  it('draws its control icons as inline SVG, which needs no symbol font, and plays under the CSP (hls.js worker and MSE blob:)', async () => {
    const controls = page.locator('.player-controls');
    const names = await controls
      .getByRole('button')
      .evaluateAll((buttons) => buttons.map((button) => button.getAttribute('aria-label') ?? ''));
    expect(names).toEqual(expect.arrayContaining(['Go live', 'Fullscreen']));
    for (const name of names) {
      // The latency toggles are words (LL / STD, and RT for real-time over WebRTC), not icons.
      if (name === 'Low latency' || name === 'Real-time') continue;
      const button = controls.getByRole('button', { name, exact: true });
      expect(await button.locator('svg[aria-hidden="true"]').count(), name).toBe(1);
      // No glyph text: a machine without symbol fonts would draw it as an empty box.
      expect(((await button.textContent()) ?? '').replace('Live', '').trim(), name).toBe('');
    }
    const box = await controls.getByRole('button', { name: 'Fullscreen' }).locator('svg').boundingBox();
    expect(box?.width ?? 0).toBeGreaterThan(10);
    await takeScreenshot(page, 'player-controls');
    expect(await readCspViolations()).toEqual([]);
  });

  it('plays the chosen rendition when one is picked in the quality menu, and hands the choice back to ABR with Auto', async () => {
    const quality = page.locator('select[aria-label="Quality"]');
    const values = await quality
      .locator('option')
      .evaluateAll((options) => options.map((option) => Number((option as HTMLOptionElement).value)));
    expect(values[0]).toBe(-1);
    const levels = values.slice(1);
    // The partner ladder of a 320x180 source: the source and 160p30.
    expect(levels.length).toBeGreaterThanOrEqual(2);
    const before = await readPlayer();
    expect(before.autoLevel).toBe('true');
    // Pick a level other than the one playing, so the switch is visible.
    const target = levels.find((level) => level !== before.level) ?? 0;

    await quality.selectOption(String(target));
    await waitForPlayer(
      `hls.js to load and play level ${target}`,
      (r) => r.autoLevel === 'false' && r.loadLevel === target && r.level === target,
    );
    await expectPlaybackContinues();
    expect((await readPlayer()).level).toBe(target);

    await quality.selectOption('-1');
    await waitForPlayer('hls.js to choose levels itself again', (r) => r.autoLevel === 'true');
    expect(await quality.inputValue()).toBe('-1');
    expect(await quality.locator('option').first().textContent()).toMatch(/^Auto/);
    await expectPlaybackContinues();
    expect(pageErrors).toEqual([]);
  });

  it('sits further behind the live edge in standard latency than in low latency, and comes back with the toggle', async () => {
    const toggle = page.getByRole('button', { name: 'Low latency' });
    expect(await toggle.getAttribute('aria-pressed')).toBe('true');
    await expectPlaybackContinues();
    const lowLatency = await sampleLatency();

    await toggle.click();
    expect(await toggle.getAttribute('aria-pressed')).toBe('false');
    await waitForPlayer('the standard-latency player to start', (r) => r.lowLatency === 'false');
    await expectPlaybackContinues();
    // Standard latency holds three 2 s segments back instead of LL-HLS's part hold-back: it waits
    // for whole segments, so it sits at least a segment further behind.
    const standard = await waitForPlayer(
      'the standard-latency player to sit further behind the edge',
      (r) => r.latency !== null && r.latency >= lowLatency + 2,
    );
    console.log(
      `latency: low ${lowLatency.toFixed(2)} s, standard ${standard.latency?.toFixed(2)} s (hls.latency)`,
    );

    await toggle.click();
    expect(await toggle.getAttribute('aria-pressed')).toBe('true');
    await waitForPlayer('the low-latency player to start', (r) => r.lowLatency === 'true');
    await expectPlaybackContinues();
    const back = await waitForPlayer(
      'the low-latency player to return near the edge',
      (r) => r.latency !== null && standard.latency !== null && r.latency <= standard.latency - 2,
    );
    expect(back.fatalErrors).toBe(0);
    expect(pageErrors).toEqual([]);
  });

  it('rewinds 10 s with the keyboard on the DVR seek bar and keeps playing there, then returns to the edge with Go live', async () => {
    await expectPlaybackContinues();
    const seekBar = page.locator('input[aria-label="Rewind (DVR)"]');
    await seekBar.focus();
    // PageDown moves a range input a tenth of its span (at least one step) in Chromium; press it
    // until the playhead is 10 s back, as a keyboard user would. Bounded: 30 presses at most.
    let rewound: PlayerReading | undefined;
    for (let presses = 0; presses < 30 && rewound === undefined; presses += 1) {
      await page.keyboard.press('PageDown');
      const reading = await readPlayer();
      if (reading.behindEdge >= 10) rewound = reading;
    }
    if (rewound === undefined)
      throw new Error(`PageDown never rewound 10 s: ${JSON.stringify(await readPlayer())}`);

    const playing = await expectPlaybackContinues();
    expect(playing.behindEdge).toBeGreaterThanOrEqual(8);
    // The Go live button shows the player is behind the edge.
    const goLive = page.getByRole('button', { name: 'Go live' });
    expect(await goLive.getAttribute('class')).toBe('go-live');

    await goLive.click();
    await waitForPlayer('the playhead to return to the live edge', (r) => r.behindEdge <= 3);
    const live = await expectPlaybackContinues();
    expect(live.behindEdge).toBeLessThanOrEqual(3);
    await expect.poll(() => goLive.getAttribute('class'), { timeout: 10_000 }).toBe('go-live at-live');
    expect(pageErrors).toEqual([]);
  });

  it('returns to the live edge by itself when playback fell behind without the viewer asking, as after a stall', async () => {
    await expectPlaybackContinues();
    // What a stall or a start before the stream settled leaves: the playhead seconds behind while
    // the buffer reaches the edge. Moved by script, not by the seek bar, so the viewer is still
    // following live (the DVR test above shows a rewind by the viewer is kept).
    const behindEdge = await page.evaluate(() => {
      const video = document.querySelector<HTMLVideoElement>('.player video');
      if (!video) return 0;
      video.currentTime = Math.max(0, video.currentTime - 8);
      const seekable = video.seekable;
      return seekable.length > 0 ? seekable.end(seekable.length - 1) - video.currentTime : 0;
    });
    expect(behindEdge).toBeGreaterThanOrEqual(6);
    await waitForPlayer(
      'the player to jump back to the live edge by itself',
      (r) => r.behindEdge <= 3,
      15_000,
    );
    const live = await expectPlaybackContinues();
    expect(live.behindEdge).toBeLessThanOrEqual(3);
    expect(pageErrors).toEqual([]);
  });

  it('counts a viewer who watches with chat closed: the player signals presence, no chat socket needed', async () => {
    const context = await openContext(browser);
    try {
      // This viewer's chat never connects: every chat WebSocket is closed as it opens.
      let chatSockets = 0;
      await context.routeWebSocket(/\/ws\//, (ws) => {
        chatSockets++;
        ws.close();
      });
      const chatless = await context.newPage();
      await chatless.goto(`${platform.baseUrl}/${streamer.channel.name}`);
      // The first page and this one: two players, so two viewers once the room's sweep publishes.
      const live = await waitFor(
        'the live viewer count to include the viewer without chat',
        async () => {
          const res = await fetch(`${platform.baseUrl}/api/v1/streams/${streamer.channel.id}/live`);
          const body = (await res.json()) as { viewer_count: number; peak_viewers: number };
          return body.viewer_count >= 2 ? body : undefined;
        },
        45_000,
        500,
      );
      expect(live.viewer_count).toBe(2);
      expect(live.peak_viewers).toBeGreaterThanOrEqual(2);
      expect(chatSockets).toBeGreaterThan(0);
    } finally {
      await context.close();
    }
  });
});
