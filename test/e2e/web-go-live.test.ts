// Going live from the browser (docs/webrtc.md): a streamer opens the dashboard's go-live page in
// Chromium with a fake camera and microphone, previews, presses Go live, and the page publishes over
// WHIP to the transcoder; a second browser context plays the stream on the watch page with hls.js,
// through the same ladder and LL-HLS as RTMP. Ending the stream from the page ends the WHIP session.
import type { Browser, BrowserContext } from 'playwright-core';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findFreePort, waitFor } from '../../scripts/lib/platform.ts';
import { type Platform, startPlatform } from './harness.ts';
import { ApiClient, uniqueName } from './lib/api.ts';
import { CHROMIUM_ARGS, CHROMIUM_PATH } from './lib/player.ts';
import { collectPageErrors, openContext, sampleWatchPlayer } from './web-pages.ts';

let platform: Platform;
let browser: Browser;
const contexts: BrowserContext[] = [];

describe('go live from the browser over WHIP', () => {
  beforeAll(async () => {
    const whipPort = await findFreePort();
    const icePort = await findFreePort();
    platform = await startPlatform({
      transcoder: true,
      transcoderEnv: {
        TRANSCODER_ENCODER: 'x264',
        WHIP_PORT: String(whipPort),
        WHIP_HOST: '127.0.0.1',
        WHIP_ICE_PORT: String(icePort),
        WHIP_ICE_BIND: '127.0.0.1',
      },
      vars: { WHIP_INGEST_URL: `http://127.0.0.1:${whipPort}/whip` },
    });
    // A fake camera (a moving test pattern) and microphone (a beep), granted without a prompt;
    // loopback ICE candidates, as the ingest listens on 127.0.0.1 here.
    browser = await chromium.launch({
      executablePath: CHROMIUM_PATH,
      args: [
        ...CHROMIUM_ARGS,
        '--use-fake-device-for-media-stream',
        '--use-fake-ui-for-media-stream',
        '--allow-loopback-in-peer-connection',
      ],
    });
  });

  afterAll(async () => {
    for (const context of contexts) await context.close();
    await browser?.close();
    await platform?.stop();
  });

  it('publishes the fake camera from the go-live page and a second browser plays it in hls.js', async () => {
    const streamer = await new ApiClient(platform.baseUrl).signup(uniqueName('webrtc'));
    const streamerContext = await openContext(browser, { token: streamer.token });
    contexts.push(streamerContext);
    const page = await streamerContext.newPage();
    const errors = collectPageErrors(page);
    const response = await page.goto(`${platform.baseUrl}/dashboard/go-live`);
    // Only this page is allowed the camera and the ingest's origin (web/public/_headers).
    expect(response?.headers()['permissions-policy']).toContain('camera=(self)');
    // OBS's WHIP settings: the server URL and the stream key as bearer token.
    await expect
      .poll(() => page.locator('#whip-server').inputValue(), { timeout: 15_000 })
      .toContain('/whip');
    expect(await page.locator('#whip-token').getAttribute('type')).toBe('password');

    // The smallest preset: two Chromiums, the bridge and the pipeline share this machine's 2 cores.
    await page.selectOption('#go-live-quality', '480p');
    await page.getByRole('button', { name: 'Preview' }).click();
    await expect
      .poll(
        () =>
          page.evaluate(() => document.querySelector<HTMLVideoElement>('.go-live-preview')?.videoWidth ?? 0),
        { timeout: 15_000 },
      )
      .toBeGreaterThan(0)
      .catch(async (error: unknown) => {
        throw new Error(`${String(error)}; page says: ${await page.locator('.go-live-state').textContent()}`);
      });
    await page.getByRole('button', { name: 'Go live' }).click();
    await expect
      .poll(() => page.locator('.go-live-state').getAttribute('data-state'), { timeout: 20_000 })
      .toBe('live')
      .catch(async (error: unknown) => {
        throw new Error(`${String(error)}; page says: ${await page.locator('.go-live-state').textContent()}`);
      });

    const live = await waitFor(
      'the stream to go live',
      async () => {
        const res = await new ApiClient(platform.baseUrl).request<{ stream_id: string }>(
          'GET',
          `/streams/${streamer.channel.id}/live`,
        );
        return res.status === 200 ? res.body : undefined;
      },
      30_000,
      250,
    );
    expect(live.stream_id).toBeTruthy();

    const viewerContext = await openContext(browser);
    contexts.push(viewerContext);
    const viewer = await viewerContext.newPage();
    const viewerErrors = collectPageErrors(viewer);
    await viewer.goto(`${platform.baseUrl}/${streamer.user.username}`);
    const first = await waitFor(
      'the watch page to play the WHIP stream',
      async () => {
        const sample = await sampleWatchPlayer(viewer);
        return sample.currentTime > 0 ? sample : undefined;
      },
      40_000,
      250,
    );
    // It plays in real time: 6 s of media within 10 s of wall clock (the player starts at the live
    // edge, so it cannot run ahead). A track that stopped delivering (the audio of this publish once
    // did, after ~4 s) stalls the bridge's muxer and with it the whole stream.
    const later = await waitFor(
      'the WHIP stream to play 6 s of media in real time',
      async () => {
        const sample = await sampleWatchPlayer(viewer);
        return sample.currentTime - first.currentTime >= 6 ? sample : undefined;
      },
      10_000,
      250,
    );
    expect(later.fatalErrors).toBe(0);

    await page.getByRole('button', { name: 'End stream' }).click();
    await expect.poll(() => page.locator('.go-live-state').getAttribute('data-state')).toBe('stopped');
    await expect
      .poll(() => platform.logs.some((line) => line.includes('"event":"whip.session_closed"')))
      .toBe(true);
    expect(errors).toEqual([]);
    expect(viewerErrors).toEqual([]);
  }, 120_000);
});
