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

/**
 * Navigation start → the player's first `playing` event, in ms; null if it never played. Waits up to
 * `waitMs` for the mark: on a busy main thread the video's clock can run a moment before the queued
 * `playing` event (which sets the mark) is dispatched, and a sample can land in between.
 */
export async function readTimeToFirstFrame(page: Page, waitMs = 5_000): Promise<number | null> {
  const handle = await page
    .waitForFunction((mark) => performance.getEntriesByName(mark)[0]?.startTime ?? false, FIRST_FRAME_MARK, {
      timeout: waitMs,
    })
    .catch(() => null);
  if (handle === null) return null;
  const startTime = await handle.jsonValue();
  return typeof startTime === 'number' ? startTime : null;
}

export async function takeScreenshot(
  page: Page,
  name: 'watch' | 'home' | 'dashboard' | 'player-controls',
): Promise<void> {
  await mkdir(SCREENSHOT_DIR, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOT_DIR, `${name}.png`) });
}

/**
 * Records the page's Content-Security-Policy violations (web/public/_headers) from before its own
 * scripts run; the returned reader lists those of the document loaded now.
 */
export async function recordCspViolations(page: Page): Promise<() => Promise<string[]>> {
  await page.addInitScript(() => {
    const seen: string[] = [];
    Object.defineProperty(window, '__cspViolations', { value: seen });
    document.addEventListener('securitypolicyviolation', (event) => {
      seen.push(`${event.effectiveDirective} blocked ${event.blockedURI}`);
    });
  });
  return () => page.evaluate(() => (window as unknown as { __cspViolations: string[] }).__cspViolations);
}

/** True when the page can be scrolled sideways (content wider than the viewport). */
export async function hasHorizontalScroll(page: Page): Promise<boolean> {
  return page.evaluate(() => document.documentElement.scrollWidth > document.documentElement.clientWidth);
}

/**
 * Presses Tab, as a keyboard-only user would, until the focused element's accessible name (its
 * aria-label, else its text) is `name`; returns how many presses it took. Bounded: a control that
 * is not in the tab order fails after `maxPresses`.
 */
export async function pressTabUntilFocused(page: Page, name: string, maxPresses = 80): Promise<number> {
  for (let presses = 1; presses <= maxPresses; presses += 1) {
    await page.keyboard.press('Tab');
    const focused = await page.evaluate(() => {
      const element = document.activeElement;
      return element?.getAttribute('aria-label') ?? element?.textContent?.trim() ?? null;
    });
    if (focused === name) return presses;
  }
  throw new Error(`${maxPresses} presses of Tab never focused "${name}"`);
}

/** A real PNG of one colour, drawn by the page's own canvas encoder (what a user would upload). */
export async function drawPngImage(page: Page, size: number): Promise<Buffer> {
  const base64 = await page.evaluate((side) => {
    const canvas = document.createElement('canvas');
    canvas.width = side;
    canvas.height = side;
    const context = canvas.getContext('2d');
    if (context === null) throw new Error('no 2d canvas');
    context.fillStyle = '#e91916';
    context.fillRect(0, 0, side, side);
    return canvas.toDataURL('image/png').slice('data:image/png;base64,'.length);
  }, size);
  return Buffer.from(base64, 'base64');
}
