// Real-time playback on the watch page (docs/webrtc.md, "WHEP in the web player"): a viewer presses
// "Real-time" and the player plays over WHEP — an RTCPeerConnection that connects, decodes more and
// more inbound video frames (getStats) and moves the video's clock, with no hls.js playlist loaded;
// a second viewer, refused by the node's viewer cap (WHEP_MAX_VIEWERS=1 here, the first viewer
// holds the one place), falls back to LL-HLS by itself, says so in one line, and plays. The
// publisher is ffmpeg's x264 with `-tune zerolatency` (no B-frames, as WHEP wants), over RTMP.
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findFreePort, waitFor } from '../../scripts/lib/platform.ts';
import { type Platform, startPlatform } from './harness.ts';
import { ApiClient, type SignedUp, uniqueName } from './lib/api.ts';
import { CHROMIUM_ARGS, CHROMIUM_PATH } from './lib/player.ts';
import { type Publisher, publishTestPattern } from './lib/publisher.ts';
import { collectPageErrors, openContext, recordCspViolations, sampleWatchPlayer } from './web-pages.ts';

let platform: Platform;
let browser: Browser;
let publisher: Publisher | undefined;
let streamer: SignedUp;
let whipPort = 0;
const contexts: BrowserContext[] = [];

interface PeerStats {
  connections: number;
  connectionState: string | null;
  framesDecoded: number;
  frameWidth: number;
  codec: string | null;
}

/**
 * Keeps every RTCPeerConnection the page makes (before the app's scripts run), so the test can read
 * the connection the player uses with getStats, as chrome://webrtc-internals would.
 */
async function watchPeerConnections(page: Page): Promise<void> {
  await page.addInitScript(() => {
    const Original = window.RTCPeerConnection;
    const made: RTCPeerConnection[] = [];
    Object.defineProperty(window, '__peerConnections', { value: made });
    window.RTCPeerConnection = class extends Original {
      constructor(configuration?: RTCConfiguration) {
        super(configuration);
        made.push(this);
      }
    };
  });
}

function readPeerStats(page: Page): Promise<PeerStats> {
  return page.evaluate(async () => {
    const made = (window as unknown as { __peerConnections: RTCPeerConnection[] }).__peerConnections;
    const pc = made.at(-1);
    if (pc === undefined)
      return { connections: 0, connectionState: null, framesDecoded: 0, frameWidth: 0, codec: null };
    let framesDecoded = 0;
    let frameWidth = 0;
    let codecId = '';
    const report = await pc.getStats();
    const codecs = new Map<string, string>();
    report.forEach((entry) => {
      if (entry.type === 'codec') codecs.set(entry.id, entry.mimeType);
      if (entry.type === 'inbound-rtp' && entry.kind === 'video') {
        framesDecoded = entry.framesDecoded ?? 0;
        frameWidth = entry.frameWidth ?? 0;
        codecId = entry.codecId ?? '';
      }
    });
    return {
      connections: made.length,
      connectionState: pc.connectionState,
      framesDecoded,
      frameWidth,
      codec: codecs.get(codecId) ?? null,
    };
  });
}

/** The playlists hls.js fetched on this page (none while the player plays over WebRTC). */
function countPlaylistRequests(page: Page): () => number {
  let count = 0;
  page.on('request', (request) => {
    if (new URL(request.url()).pathname.endsWith('.m3u8')) count += 1;
  });
  return () => count;
}

async function openWatchPage(): Promise<{
  page: Page;
  errors: string[];
  playlists: () => number;
  readViolations: () => Promise<string[]>;
}> {
  const context = await openContext(browser);
  contexts.push(context);
  const page = await context.newPage();
  await watchPeerConnections(page);
  const errors = collectPageErrors(page);
  const playlists = countPlaylistRequests(page);
  const readViolations = await recordCspViolations(page);
  await page.goto(`${platform.baseUrl}/${streamer.user.username}`);
  await page.locator('.player video').waitFor({ timeout: 30_000 });
  return { page, errors, playlists, readViolations };
}

describe('real-time (WHEP) playback on the watch page', () => {
  beforeAll(async () => {
    whipPort = await findFreePort();
    const icePort = await findFreePort();
    platform = await startPlatform({
      transcoder: true,
      transcoderEnv: {
        TRANSCODER_ENCODER: 'x264',
        WHIP_PORT: String(whipPort),
        WHIP_HOST: '127.0.0.1',
        WHIP_ICE_PORT: String(icePort),
        WHIP_ICE_BIND: '127.0.0.1',
        // One WebRTC viewer per node: the second viewer is refused (503) and must fall back.
        WHEP_MAX_VIEWERS: '1',
      },
      vars: { WHIP_INGEST_URL: `http://127.0.0.1:${whipPort}/whip` },
    });
    // The node's ICE candidates are on loopback here.
    browser = await chromium.launch({
      executablePath: CHROMIUM_PATH,
      args: [...CHROMIUM_ARGS, '--allow-loopback-in-peer-connection'],
    });
    const api = new ApiClient(platform.baseUrl);
    streamer = await api.signup(uniqueName('realtime'));
    const { stream_key: key } = await api.streamKey(streamer.channel.id);
    publisher = publishTestPattern(`${platform.rtmpUrl}/${key}`);
    await waitFor(
      'the stream to go live',
      async () => {
        const res = await api.request('GET', `/streams/${streamer.channel.id}/live`);
        return res.status === 200 ? true : undefined;
      },
      30_000,
      250,
    );
  });

  afterAll(async () => {
    for (const context of contexts) await context.close();
    await browser?.close();
    await publisher?.stop();
    await platform?.stop();
  });

  it('plays over WebRTC when the viewer picks Real-time: connected, frames decoded, the clock moving', async () => {
    const { page, errors, playlists, readViolations } = await openWatchPage();
    // The watch page's CSP names the WHEP endpoint's origin (the Worker adds it) and nothing else.
    const csp = await page.evaluate(async () =>
      (await fetch(location.href)).headers.get('content-security-policy'),
    );
    expect(csp).toContain(`connect-src 'self' http://127.0.0.1:${whipPort};`);

    // Keyboard: the Real-time button is a toggle in the control bar like the latency one.
    const realtime = page.getByRole('button', { name: 'Real-time' });
    expect(await realtime.getAttribute('aria-pressed')).toBe('false');
    await realtime.focus();
    await page.keyboard.press('Enter');
    await expect.poll(() => realtime.getAttribute('aria-pressed')).toBe('true');
    await expect.poll(() => page.locator('.player').getAttribute('data-transport')).toBe('webrtc');
    const playlistsAtSwitch = playlists();

    const first = await waitFor(
      'the WebRTC connection to decode video',
      async () => {
        const stats = await readPeerStats(page);
        return stats.connectionState === 'connected' && stats.framesDecoded > 0 ? stats : undefined;
      },
      20_000,
      250,
    ).catch(async (error: unknown) => {
      throw new Error(
        `${String(error)}; ${JSON.stringify(await readPeerStats(page))}; ${platform.logs.slice(-20).join('\n')}`,
      );
    });
    expect(first.codec).toBe('video/H264');
    const clockAtFirst = (await sampleWatchPlayer(page)).currentTime;
    // 3 s later: more frames decoded (30 fps source: far more than 30 even on a loaded machine) and
    // the video's clock has moved with them.
    await page.waitForTimeout(3_000);
    const later = await readPeerStats(page);
    const sample = await sampleWatchPlayer(page);
    expect(later.connectionState).toBe('connected');
    expect(later.framesDecoded - first.framesDecoded).toBeGreaterThan(30);
    expect(later.frameWidth).toBe(320);
    expect(sample.currentTime - clockAtFirst).toBeGreaterThan(1.5);
    expect(sample.paused).toBe(false);
    expect(await page.locator('.player').getAttribute('data-state')).toBe('playing');
    // No playlist was asked for since the switch: this is not hls.js.
    expect(playlists()).toBe(playlistsAtSwitch);
    expect(await page.locator('.player-notice').count()).toBe(0);
    expect(await readViolations()).toEqual([]);
    expect(errors).toEqual([]);
    // The page stays open: this viewer holds the node's only WHEP place for the next test.
  }, 90_000);

  it('falls back to LL-HLS by itself when the node refuses WHEP (viewer cap), says so, and plays', async () => {
    const { page, errors, playlists } = await openWatchPage();
    await page.getByRole('button', { name: 'Real-time' }).click();
    await expect
      .poll(() => page.locator('.player').getAttribute('data-realtime-fallback'), { timeout: 15_000 })
      .toBe('refused_full');
    await expect(page.locator('.player-notice').textContent()).resolves.toContain(
      'playing low latency instead',
    );
    expect(await page.locator('.player').getAttribute('data-transport')).toBe('hls');
    expect(await page.getByRole('button', { name: 'Real-time' }).getAttribute('aria-pressed')).toBe('false');
    expect(await page.locator('.player').getAttribute('data-low-latency')).toBe('true');

    // LL-HLS plays: playlists are fetched and the clock advances in real time.
    const start = await waitFor(
      'LL-HLS to play after the fallback',
      async () => {
        const sample = await sampleWatchPlayer(page);
        return sample.currentTime > 0 && !sample.paused ? sample : undefined;
      },
      30_000,
      250,
    );
    // 3 s of media within 10 s of wall clock: a start-up stall on this loaded machine is ordinary
    // (hls.js catches up at up to 1.5x); a player that does not play never gets there.
    const after = await waitFor(
      'LL-HLS to play 3 s of media',
      async () => {
        const sample = await sampleWatchPlayer(page);
        return sample.currentTime - start.currentTime >= 3 ? sample : undefined;
      },
      10_000,
      250,
    );
    expect(after.fatalErrors).toBe(0);
    expect(playlists()).toBeGreaterThan(0);
    // Its one WHEP offer was refused: the connection it made never connected.
    const stats = await readPeerStats(page);
    expect(stats.connections).toBe(1);
    expect(stats.connectionState).not.toBe('connected');
    expect(errors).toEqual([]);
  }, 90_000);

  it('remembers the choice: a viewer who picked Real-time before starts in it (and still falls back when refused)', async () => {
    const context = await openContext(browser);
    contexts.push(context);
    const page = await context.newPage();
    await page.addInitScript(() => window.localStorage.setItem('edgestream.realtime', '1'));
    await page.goto(`${platform.baseUrl}/${streamer.user.username}`);
    // The node is still full (the first viewer holds its place): it starts on WebRTC, is refused,
    // and falls back — both the remembered choice and the fallback, without a click.
    await expect
      .poll(() => page.locator('.player').getAttribute('data-realtime-fallback'), { timeout: 20_000 })
      .toBe('refused_full');
    expect(await page.evaluate(() => window.localStorage.getItem('edgestream.realtime'))).toBe('1');
  }, 60_000);
});
