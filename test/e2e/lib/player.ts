// hls.js in Debian's Chromium, driven by playwright-core: the real player of the end-to-end tests
// and the latency benchmark.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { ROOT } from '../../../scripts/lib/platform.ts';
import {
  bufferedEndAt,
  cushionRate,
  liveResyncTarget,
  stallNudgeTarget,
} from '../../../web/src/player/live-resync.ts';

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const CHROMIUM_ARGS = [
  '--headless=new',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--autoplay-policy=no-user-gesture-required',
];

export interface LaunchedBrowser {
  readonly browser: Browser;
  newContext(): Promise<BrowserContext>;
  close(): Promise<void>;
}

export async function launchBrowser(): Promise<LaunchedBrowser> {
  // playwright gives every launch a fresh, empty profile of its own.
  const browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS });
  return {
    browser,
    newContext: () => browser.newContext(),
    close: async () => {
      await browser.close();
    },
  };
}

export interface PlayerSample {
  /** Wall clock of the sample (epoch ms). */
  at: number;
  currentTime: number;
  /** hls.latency: seconds behind the live edge by the playlist's clock. */
  latency: number | null;
  /** hls.targetLatency: where hls.js steers `latency` (PART-HOLD-BACK in low-latency mode). */
  targetLatency: number | null;
  /** Date.now() − hls.playingDate: glass-to-glass-ish latency from PROGRAM-DATE-TIME, ms. */
  pdtLatencyMs: number | null;
  paused: boolean;
  readyState: number;
  levels: number;
  /** Seconds of media buffered ahead of the playhead (what a gap in new parts eats first). */
  bufferAhead: number;
  /** Above 1 while hls.js catches up with its target latency. */
  playbackRate: number;
  /**
   * Seconds since hls.js last received its level's playlist: part of `latency` (hls.js reckons the
   * live edge as the playlist's edge plus this age), so a held or failing reload shows up here.
   */
  playlistAge: number | null;
}

export interface PlayerState {
  fatalErrors: string[];
  errors: string[];
  levels: Array<{ height: number; bitrate: number; name: string }>;
  firstPlayingAt: number | null;
  /** Jumps back to the live edge by the web app's rule (web/src/player/live-resync.ts). */
  resyncs: number;
  /** Playheads moved past a stall with media ahead by the web app's rule (stallNudgeTarget). */
  nudges: number;
}

/** Opens a page on `originUrl` (so requests are same-origin) that plays `manifestUrl` with hls.js. */
export async function openPlayer(
  context: BrowserContext,
  originUrl: string,
  manifestUrl: string,
  /** cushion: the web app's thin-buffer rule (cushionRate) in low-latency mode; default on. */
  options: { lowLatency?: boolean; cushion?: boolean } = {},
): Promise<Page> {
  const page = await context.newPage();
  await page.goto(`${originUrl}/api/v1/health`);
  await page.setContent('<!doctype html><video id="v" muted playsinline style="width:320px"></video>');
  const hlsSource = await readFile(join(ROOT, 'node_modules', 'hls.js', 'dist', 'hls.min.js'), 'utf8');
  await page.addScriptTag({ content: hlsSource });
  // The web app's rule for a viewer who fell behind, from its own source text: one implementation.
  await page.addScriptTag({
    content: `window.liveResyncTarget = ${liveResyncTarget.toString()};
window.bufferedEndAt = ${bufferedEndAt.toString()};
window.stallNudgeTarget = ${stallNudgeTarget.toString()};
window.cushionRate = ${cushionRate.toString()};`,
  });
  await page.evaluate(
    ({ url, lowLatency, cushion }) => {
      type HlsLike = {
        loadSource(url: string): void;
        attachMedia(el: HTMLVideoElement): void;
        on(
          event: string,
          cb: (event: string, data: { fatal?: boolean; details?: string; type?: string }) => void,
        ): void;
        latency: number;
        targetLatency: number | null;
        liveSyncPosition: number | null;
        latestLevelDetails: { targetduration: number; live: boolean } | null;
        config: { maxLiveSyncPlaybackRate: number };
        playingDate: Date | null;
        levels: Array<{ height: number; bitrate: number; name?: string }>;
      };
      const w = window as unknown as {
        Hls: { new (config: object): HlsLike; Events: Record<string, string> };
        hls: HlsLike;
        playerState: PlayerState;
        liveResyncTarget: typeof liveResyncTarget;
        bufferedEndAt: typeof bufferedEndAt;
        stallNudgeTarget: typeof stallNudgeTarget;
        cushionRate: typeof cushionRate;
      };
      const video = document.getElementById('v') as HTMLVideoElement;
      const state: PlayerState = {
        fatalErrors: [],
        errors: [],
        levels: [],
        firstPlayingAt: null,
        resyncs: 0,
        nudges: 0,
      };
      w.playerState = state;
      const hls = new w.Hls({
        lowLatencyMode: lowLatency,
        // As the web app's player: catch up to the live edge at up to 1.5x (docs/benchmarks.md).
        ...(lowLatency ? { maxLiveSyncPlaybackRate: 1.5 } : {}),
        enableWorker: true,
        backBufferLength: 30,
      });
      w.hls = hls;
      hls.on(w.Hls.Events.ERROR ?? 'hlsError', (_e, data) => {
        const text = `${data.type}:${data.details}`;
        if (data.fatal) state.fatalErrors.push(text);
        else state.errors.push(text);
      });
      hls.on(w.Hls.Events.MANIFEST_PARSED ?? 'hlsManifestParsed', () => {
        state.levels = hls.levels.map((l) => ({ height: l.height, bitrate: l.bitrate, name: l.name ?? '' }));
        void video.play().catch(() => undefined);
      });
      video.addEventListener('playing', () => {
        state.firstPlayingAt ??= Date.now();
      });
      // As the web app's player ticks (hls-player.tsx): this player never rewinds or pauses, so
      // it is always following live.
      let lastResyncAt = 0;
      window.setInterval(() => {
        if (Date.now() - lastResyncAt <= 3000) return;
        const target = w.liveResyncTarget({
          following: true,
          paused: video.paused,
          interstitial: false,
          latency: hls.latency,
          targetLatency: hls.targetLatency,
          liveSyncPosition: hls.liveSyncPosition,
          targetDuration: hls.latestLevelDetails?.targetduration ?? 0,
          bufferedEnd: w.bufferedEndAt(video),
        });
        if (target === null) return;
        lastResyncAt = Date.now();
        state.resyncs += 1;
        video.currentTime = target;
      }, 500);
      // And its stall watch: a playhead standing still with media ahead is nudged past the splice;
      // with its thin-buffer cushion in low-latency mode (0.9x while little is buffered).
      let watchedTime = -1;
      let watchedSince = Date.now();
      let lastNudgeAt = 0;
      let nudges = 0;
      let nudgedTo = 0;
      let slowed = false;
      let catchUpRate = 1;
      window.setInterval(() => {
        if (lowLatency && cushion) {
          const rate = w.cushionRate({
            following: hls.latestLevelDetails?.live !== false,
            paused: video.paused,
            seeking: video.seeking,
            interstitial: false,
            bufferAhead: w.bufferedEndAt(video) - video.currentTime,
            slowed,
          });
          if (rate !== null) {
            if (!slowed) catchUpRate = hls.config.maxLiveSyncPlaybackRate;
            hls.config.maxLiveSyncPlaybackRate = 1;
            if (video.playbackRate !== rate) video.playbackRate = rate;
            slowed = true;
          } else if (slowed) {
            slowed = false;
            video.playbackRate = 1;
            hls.config.maxLiveSyncPlaybackRate = catchUpRate;
          }
        }
        const now = Date.now();
        if (nudges > 0 && video.currentTime >= nudgedTo + 1) nudges = 0;
        const halted = video.paused || video.seeking || video.ended || video.playbackRate === 0;
        if (halted || video.currentTime !== watchedTime) {
          watchedTime = video.currentTime;
          watchedSince = now;
          return;
        }
        if (now - lastNudgeAt < 500) return;
        const target = w.stallNudgeTarget({
          started: state.firstPlayingAt !== null,
          paused: video.paused,
          seeking: video.seeking,
          interstitial: false,
          stuckMs: now - watchedSince,
          nudges,
          currentTime: video.currentTime,
          bufferedEnd: w.bufferedEndAt(video),
        });
        if (target === null) return;
        lastNudgeAt = now;
        nudges += 1;
        nudgedTo = target;
        state.nudges += 1;
        video.currentTime = target;
      }, 100);
      hls.loadSource(url);
      hls.attachMedia(video);
    },
    { url: manifestUrl, lowLatency: options.lowLatency ?? true, cushion: options.cushion ?? true },
  );
  return page;
}

export async function samplePlayer(page: Page): Promise<PlayerSample> {
  return page.evaluate(() => {
    const w = window as unknown as {
      hls: {
        latency: number;
        targetLatency: number | null;
        playingDate: Date | null;
        levels: unknown[];
        latestLevelDetails: { age: number } | null;
      };
      bufferedEndAt: (video: HTMLVideoElement) => number;
    };
    const video = document.getElementById('v') as HTMLVideoElement;
    const playingDate = w.hls.playingDate;
    const bufferedEnd = w.bufferedEndAt(video);
    return {
      at: Date.now(),
      currentTime: video.currentTime,
      latency: Number.isFinite(w.hls.latency) ? w.hls.latency : null,
      targetLatency:
        w.hls.targetLatency !== null && Number.isFinite(w.hls.targetLatency) ? w.hls.targetLatency : null,
      pdtLatencyMs: playingDate ? Date.now() - playingDate.getTime() : null,
      paused: video.paused,
      readyState: video.readyState,
      levels: w.hls.levels.length,
      bufferAhead: Math.max(0, bufferedEnd - video.currentTime),
      playbackRate: video.playbackRate,
      playlistAge: w.hls.latestLevelDetails === null ? null : w.hls.latestLevelDetails.age,
    };
  });
}

export async function playerState(page: Page): Promise<PlayerState> {
  return page.evaluate(() => (window as unknown as { playerState: PlayerState }).playerState);
}
