// SRT ingest end to end (docs/srt.md): the streamer takes `srt_url` from `POST /streams/start` (the
// stream key as streamid, the channel's passphrase) and ffmpeg's libsrt publishes MPEG-TS to it; the
// stream goes live through the same ladder and LL-HLS as RTMP and hls.js in Chromium plays it. A
// wrong passphrase and a wrong key are refused in the handshake, before any media, and the origin
// authorizes nothing for them.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { waitFor } from '../../scripts/lib/platform.ts';
import { findFreeUdpPort } from '../node/srt/srt-publisher.ts';
import { type Platform, startPlatform } from './harness.ts';
import { ApiClient, type SignedUp, uniqueName } from './lib/api.ts';
import { type LaunchedBrowser, launchBrowser, openPlayer, playerState, samplePlayer } from './lib/player.ts';
import { type Publisher, publishTestPattern } from './lib/publisher.ts';

interface LiveStream {
  stream_id: string;
  manifest_url: string;
}

let platform: Platform;
let browser: LaunchedBrowser;
let api: ApiClient;
let me: SignedUp;
let srtUrl: string;
const publishers: Publisher[] = [];

async function getLive(channelId: string): Promise<LiveStream | undefined> {
  const res = await api.request<LiveStream>('GET', `/streams/${channelId}/live`);
  return res.status === 200 ? res.body : undefined;
}

/** Runs a publisher that the listener should refuse; resolves with its exit code. */
async function publishRefused(url: string): Promise<number | null | 'hung'> {
  const publisher = publishTestPattern(url, { durationSeconds: 20, format: 'mpegts' });
  publishers.push(publisher);
  const code = await Promise.race([
    publisher.exited,
    new Promise<'hung'>((r) => setTimeout(() => r('hung'), 15_000)),
  ]);
  await publisher.stop('SIGKILL');
  return code;
}

/** The node's line for every authorize call it makes, and the origin's for every publish it began. */
const authorizedLines = () =>
  platform.logs.filter(
    (line) => line.includes('srt.publish_authorization') || line.includes('publish_authorized'),
  );

describe('SRT ingest end to end', () => {
  // A platform per test: a retried test (CI runs a failed end-to-end test once more) then starts
  // from a fresh transcoder and origin instead of the state the failed run left behind.
  beforeEach(async () => {
    const srtPort = await findFreeUdpPort();
    platform = await startPlatform({
      transcoder: true,
      transcoderEnv: { TRANSCODER_ENCODER: 'x264', SRT_PORT: String(srtPort), SRT_HOST: '127.0.0.1' },
      vars: { SRT_INGEST_URL: `srt://127.0.0.1:${srtPort}` },
      // The Worker's info lines include publish_authorized, which must not appear for a refusal.
      workerLogLevel: 'log',
    });
    browser = await launchBrowser();
    api = new ApiClient(platform.baseUrl);
    me = await api.signup(uniqueName('srt'));
    const start = await api.request<{ srt_url: string; stream_key: string }>('POST', '/streams/start', {
      channel_id: me.channel.id,
    });
    expect(start.status).toBe(200);
    srtUrl = start.body.srt_url;
    expect(srtUrl).toContain(`streamid=${start.body.stream_key}`);
  });

  afterEach(async () => {
    for (const publisher of publishers.splice(0)) await publisher.stop('SIGKILL');
    await browser?.close();
    await platform?.stop();
  });

  it('refuses a wrong passphrase and a wrong key in the handshake, authorizing nothing', async () => {
    const wrongPassphrase = srtUrl.replace(/passphrase=[^&]+/, 'passphrase=not-the-channel-passphrase');
    const wrongKey = srtUrl.replace(/streamid=[^&]+/, 'streamid=live_not_a_real_key');
    for (const url of [wrongPassphrase, wrongKey]) {
      const code = await publishRefused(url);
      expect(code).not.toBe('hung');
      expect(code).not.toBe(0);
    }
    expect(platform.logs.some((line) => line.includes('"reason":"bad_passphrase"'))).toBe(true);
    expect(platform.logs.some((line) => line.includes('"reason":"bad_key"'))).toBe(true);
    expect(authorizedLines()).toEqual([]);
    expect(await getLive(me.channel.id)).toBeUndefined();
  }, 60_000);

  it('goes live from ffmpeg over SRT with the passphrase and hls.js in Chromium plays it', async () => {
    const publisher = publishTestPattern(srtUrl, { format: 'mpegts' });
    publishers.push(publisher);
    const live = await waitFor('the SRT stream to go live', () => getLive(me.channel.id), 40_000, 250);
    expect(live.manifest_url).toMatch(/\/live\/.+\/master\.m3u8$/);
    const context = await browser.newContext();
    const page = await openPlayer(context, platform.baseUrl, live.manifest_url, { lowLatency: true });
    const first = await waitFor(
      'playback to start',
      async () => {
        const sample = await samplePlayer(page);
        return sample.currentTime > 0 ? sample : undefined;
      },
      40_000,
      250,
    );
    await new Promise((resolve) => setTimeout(resolve, 10_000));
    const last = await samplePlayer(page);
    const state = await playerState(page);
    await context.close();
    expect(state.fatalErrors).toEqual([]);
    // It plays in real time: about 10 s of media in 10 s of wall clock, with margin for 2 busy cores.
    expect(last.currentTime - first.currentTime).toBeGreaterThanOrEqual(8.5);
    expect(authorizedLines().length).toBeGreaterThanOrEqual(1);
    expect(platform.logs.some((line) => line.includes('"event":"srt.publish_started"'))).toBe(true);
  }, 120_000);
});
