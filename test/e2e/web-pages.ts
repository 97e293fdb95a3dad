// Helpers for the web app's end-to-end tests: browser contexts signed in by token, the player's
// observable state (read from the page the way a viewer sees it), screenshots.
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { ROOT } from '../../scripts/lib/platform.ts';
import { CHROMIUM_ARGS, CHROMIUM_PATH } from './lib/player.ts';

export const SCREENSHOT_DIR = join(ROOT, 'test-results', 'screenshots');
/** The localStorage key the web app keeps its bearer token under (web/src/api/client.ts). */
const TOKEN_KEY = 'edgestream.token';
/** The User Timing mark the player sets on its first `playing` event (web/src/player/hls-player.tsx). */
const FIRST_FRAME_MARK = 'edgestream:first-playing';

export interface WatchedVideo {
  currentTime: number;
  paused: boolean;
  readyState: number;
  fatalErrors: number;
  state: string | null;
}

/**
 * Debian's Chromium, headless. Playwright gives every launch a fresh temporary profile (it refuses
 * a --user-data-dir argument), and every context in it is isolated like a separate browser.
 */
export function launchWebBrowser(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS });
}

export async function openContext(
  browser: Browser,
  options: { token?: string; viewport?: { width: number; height: number } } = {},
): Promise<BrowserContext> {
  const context = await browser.newContext(options.viewport ? { viewport: options.viewport } : {});
  if (options.token !== undefined) {
    await context.addInitScript(
      ([key, token]) => {
        window.localStorage.setItem(key, token);
      },
      [TOKEN_KEY, options.token] as const,
    );
  }
  return context;
}

/** Uncaught page errors, collected so a test can assert the app never threw. */
export function collectPageErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(error.message));
  return errors;
}

export async function sampleWatchPlayer(page: Page): Promise<WatchedVideo> {
  return page.evaluate(() => {
    const video = document.querySelector<HTMLVideoElement>('.player video');
    const player = document.querySelector<HTMLElement>('.player');
    return {
      currentTime: video?.currentTime ?? 0,
      paused: video?.paused ?? true,
      readyState: video?.readyState ?? 0,
      fatalErrors: Number(player?.dataset.fatalErrors ?? '0'),
      state: player?.dataset.state ?? null,
    };
  });
}

/** Navigation start → the player's first `playing` event, in ms; null if it has not played yet. */
export async function readTimeToFirstFrame(page: Page): Promise<number | null> {
  return page.evaluate((mark) => performance.getEntriesByName(mark)[0]?.startTime ?? null, FIRST_FRAME_MARK);
}

export async function takeScreenshot(page: Page, name: 'watch' | 'home' | 'dashboard'): Promise<void> {
  await mkdir(SCREENSHOT_DIR, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOT_DIR, `${name}.png`) });
}

/** True when the page can be scrolled sideways (content wider than the viewport). */
export async function hasHorizontalScroll(page: Page): Promise<boolean> {
  return page.evaluate(() => document.documentElement.scrollWidth > document.documentElement.clientWidth);
}
