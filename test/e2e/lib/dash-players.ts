// DASH players in Chromium for the end-to-end tests: dash.js (the DASH-IF reference player) and
// Shaka Player, each loaded from node_modules into a page on the platform's origin, playing an MPD
// to its end. What a test reads back: how far the <video> got, what it decoded, and every error.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { ROOT } from '../../../scripts/lib/platform.ts';
import type { LaunchedBrowser } from './player.ts';

export type DashPlayerName = 'dash.js' | 'shaka';

export interface DashPlayback {
  ended: boolean;
  currentTime: number;
  duration: number;
  errors: string[];
  videoFrames: number;
  audioBytes: number;
}

const SCRIPTS: Record<DashPlayerName, string> = {
  'dash.js': 'dashjs/dist/modern/umd/dash.all.min.js',
  shaka: 'shaka-player/dist/shaka-player.compiled.js',
};

async function startDashJs(page: Page, url: string, rate: number): Promise<void> {
  await page.evaluate(
    ({ url, rate }) => {
      type DashPlayer = {
        initialize(view: HTMLVideoElement, url: string, autoPlay: boolean): void;
        on(event: string, cb: (e: { error?: { code?: number; message?: string } }) => void): void;
      };
      const w = window as unknown as {
        dashjs: { MediaPlayer(): { create(): DashPlayer } };
        playerErrors: string[];
      };
      const video = document.getElementById('v') as HTMLVideoElement;
      const player = w.dashjs.MediaPlayer().create();
      player.on('error', (e) => w.playerErrors.push(`dash.js: ${e.error?.code} ${e.error?.message}`));
      video.addEventListener('playing', () => {
        video.playbackRate = rate;
      });
      player.initialize(video, url, true);
    },
    { url, rate },
  );
}

async function startShaka(page: Page, url: string, rate: number): Promise<void> {
  await page.evaluate(
    async ({ url, rate }) => {
      type ShakaPlayer = {
        attach(video: HTMLVideoElement): Promise<void>;
        load(url: string): Promise<void>;
        addEventListener(event: string, cb: (e: { detail?: { code?: number } }) => void): void;
      };
      const w = window as unknown as {
        shaka: { Player: new () => ShakaPlayer; polyfill: { installAll(): void } };
        playerErrors: string[];
      };
      w.shaka.polyfill.installAll();
      const video = document.getElementById('v') as HTMLVideoElement;
      const player = new w.shaka.Player();
      player.addEventListener('error', (e) => w.playerErrors.push(`shaka: ${e.detail?.code}`));
      await player.attach(video);
      await player.load(url).catch((error: { code?: number }) => {
        w.playerErrors.push(`shaka load: ${error.code}`);
      });
      video.playbackRate = rate;
      await video.play().catch(() => undefined);
    },
    { url, rate },
  );
}

/**
 * Plays `mpdUrl` in a muted <video> with the named player at `rate`, until it ends (at most
 * `timeoutMs`); returns how far it got and what it decoded.
 */
export async function playDash(
  browser: LaunchedBrowser,
  originUrl: string,
  name: DashPlayerName,
  mpdUrl: string,
  options: { rate?: number; timeoutMs?: number } = {},
): Promise<DashPlayback> {
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    await page.goto(`${originUrl}/api/v1/health`);
    await page.setContent('<!doctype html><video id="v" muted playsinline style="width:320px"></video>');
    await page.addScriptTag({ content: await readFile(join(ROOT, 'node_modules', SCRIPTS[name]), 'utf8') });
    await page.evaluate(() => {
      const w = window as unknown as { playerErrors: string[] };
      w.playerErrors = [];
      const video = document.getElementById('v') as HTMLVideoElement;
      video.addEventListener('error', () => w.playerErrors.push(`video: ${video.error?.message ?? ''}`));
    });
    const rate = options.rate ?? 4;
    await (name === 'dash.js' ? startDashJs(page, mpdUrl, rate) : startShaka(page, mpdUrl, rate));
    await page
      .waitForFunction(() => (document.getElementById('v') as HTMLVideoElement).ended, undefined, {
        timeout: options.timeoutMs ?? 60_000,
      })
      .catch(() => undefined);
    // Awaited here, not returned as a promise: the finally below closes the context.
    return await page.evaluate(() => {
      const video = document.getElementById('v') as HTMLVideoElement & {
        webkitAudioDecodedByteCount?: number;
      };
      return {
        ended: video.ended,
        currentTime: video.currentTime,
        duration: video.duration,
        errors: (window as unknown as { playerErrors: string[] }).playerErrors,
        videoFrames: video.getVideoPlaybackQuality().totalVideoFrames,
        audioBytes: video.webkitAudioDecodedByteCount ?? 0,
      };
    });
  } finally {
    await context.close();
  }
}
