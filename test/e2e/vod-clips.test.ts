// Past broadcasts and clips end to end: ffmpeg publishes over RTMP, the transcoder pushes CMAF to
// the Worker, a clip is cut from the live stream, the stream ends and becomes a VOD that hls.js
// plays from start to end, whose DASH MPD lists the same segments and plays to its end in dash.js
// and Shaka Player, and from which a second clip is cut. Clips play in Chromium's <video> and
// ffprobe measures them.
import { spawn } from 'node:child_process';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../../scripts/lib/platform.ts';
import { type Platform, startPlatform } from './harness.ts';
import { ApiClient, type SignedUp, uniqueName, waitForSegments } from './lib/api.ts';
import { playDash } from './lib/dash-players.ts';
import { type LaunchedBrowser, launchBrowser, openPlayer, playerState } from './lib/player.ts';
import { type Publisher, publishTestPattern } from './lib/publisher.ts';

const RECONNECT_WINDOW_SECONDS = 4;
const PUBLISH_SECONDS = 26;

interface Clip {
  id: string;
  status: 'processing' | 'ready' | 'failed';
  failure_reason: string | null;
  url: string;
}

interface Vod {
  id: string;
  duration_seconds: number;
  playback_url: string;
  dash_url: string;
}

let platform: Platform;
let browser: LaunchedBrowser;
let api: ApiClient;
let me: SignedUp;
let publisher: Publisher | undefined;
let streamId: string;
let vod: Vod;

function run(
  command: string,
  args: string[],
  timeoutMs = 60_000,
): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(command, args);
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      out += d.toString();
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

/** ffprobe's format duration of a URL, in seconds. */
async function probeDuration(url: string): Promise<number> {
  const probe = await run('ffprobe', [
    '-v',
    'error',
    '-show_entries',
    'format=duration',
    '-of',
    'csv=p=0',
    url,
  ]);
  expect(probe.code, probe.out).toBe(0);
  return Number(probe.out.trim());
}

async function createClip(body: Record<string, unknown>, idempotencyKey?: string) {
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    authorization: `Bearer ${api.token}`,
  };
  if (idempotencyKey) headers['idempotency-key'] = idempotencyKey;
  const res = await fetch(`${platform.baseUrl}/api/v1/clips`, {
    method: 'POST',
    headers,
    body: JSON.stringify({ stream_id: streamId, title: 'e2e clip', ...body }),
  });
  return {
    status: res.status,
    body: (await res.json()) as { clip_id: string; url: string; status: string },
    headers: res.headers,
  };
}

async function waitForClip(clipId: string): Promise<Clip> {
  return waitFor(
    `clip ${clipId} to settle`,
    async () => {
      const res = await api.request<Clip>('GET', `/clips/${clipId}`);
      return res.body.status === 'processing' ? undefined : res.body;
    },
    30_000,
    250,
  );
}

/** Plays an MP4 in a plain <video> until it has played 3 s or ended (at most 40 s); returns how far it got. */
async function playMp4(url: string): Promise<{ ended: boolean; currentTime: number; error: string | null }> {
  const context = await browser.newContext();
  try {
    const page: Page = await context.newPage();
    await page.goto(`${platform.baseUrl}/api/v1/health`);
    await page.setContent(`<!doctype html><video id="v" muted playsinline src="${url}"></video>`);
    await page.evaluate(() => {
      const video = document.getElementById('v') as HTMLVideoElement;
      video.playbackRate = 4;
      void video.play().catch(() => undefined);
    });
    await page
      .waitForFunction(
        () => {
          const video = document.getElementById('v') as HTMLVideoElement;
          return video.ended || video.currentTime > 3;
        },
        undefined,
        { timeout: 40_000 },
      )
      .catch(() => undefined);
    // Awaited here, not returned as a promise: the finally below closes the context.
    return await page.evaluate(() => {
      const video = document.getElementById('v') as HTMLVideoElement;
      return {
        ended: video.ended,
        currentTime: video.currentTime,
        error: video.error ? String(video.error.code) : null,
      };
    });
  } finally {
    await context.close();
  }
}

describe('VOD and clips end to end', () => {
  beforeAll(async () => {
    platform = await startPlatform({
      transcoder: true,
      vars: { RECONNECT_WINDOW_SECONDS: String(RECONNECT_WINDOW_SECONDS) },
    });
    browser = await launchBrowser();
    api = new ApiClient(platform.baseUrl);
    me = await api.signup(uniqueName('vodder'));
    const { stream_key } = await api.streamKey(me.channel.id);
    publisher = publishTestPattern(`${platform.rtmpUrl}/${stream_key}`, { durationSeconds: PUBLISH_SECONDS });
    const live = await waitFor(
      'the stream to go live',
      async () => {
        const res = await api.request<{ stream_id: string }>('GET', `/streams/${me.channel.id}/live`);
        return res.status === 200 ? res.body : undefined;
      },
      30_000,
      250,
    );
    streamId = live.stream_id;
  });

  afterAll(async () => {
    await publisher?.stop();
    await browser?.close();
    await platform?.stop();
  });

  it('cuts a clip of the live stream that plays in Chromium and lasts what was asked (ffprobe)', async () => {
    // Let 14 s of media reach the archive first.
    await waitForSegments(platform.baseUrl, me.channel.id, 7);
    const first = await createClip({ duration_seconds: 10, offset_seconds: -10 }, 'live-clip');
    expect(first.status, JSON.stringify(first.body)).toBe(202);
    // The same request again (a client retry) is the same clip.
    const again = await createClip({ duration_seconds: 10, offset_seconds: -10 }, 'live-clip');
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.body.clip_id).toBe(first.body.clip_id);
    const clip = await waitForClip(first.body.clip_id);
    expect(clip.status, clip.failure_reason ?? '').toBe('ready');
    expect(Math.abs((await probeDuration(clip.url)) - 10)).toBeLessThan(0.5);
    const played = await playMp4(clip.url);
    expect(played.error).toBeNull();
    expect(played.ended || played.currentTime > 3).toBe(true);
  });

  it('makes the ended stream a VOD that hls.js plays from start to end', async () => {
    await publisher?.exited;
    vod = await waitFor(
      'the VOD to be listed',
      async () => {
        const res = await api.request<{ data: Vod[] }>('GET', `/channels/${me.channel.id}/vods`);
        return res.body.data[0];
      },
      (RECONNECT_WINDOW_SECONDS + 40) * 1000,
      500,
    );
    expect(vod.duration_seconds).toBeGreaterThan(PUBLISH_SECONDS - 6);
    const media = await fetch(vod.playback_url.replace('master.m3u8', 'source.m3u8')).then((r) => r.text());
    expect(media).toContain('#EXT-X-PLAYLIST-TYPE:VOD');
    expect(media.trim().endsWith('#EXT-X-ENDLIST')).toBe(true);

    const context = await browser.newContext();
    try {
      const page = await openPlayer(context, platform.baseUrl, vod.playback_url, { lowLatency: false });
      await page.evaluate(() => {
        (document.getElementById('v') as HTMLVideoElement).playbackRate = 4;
      });
      await page.waitForFunction(() => (document.getElementById('v') as HTMLVideoElement).ended, undefined, {
        timeout: 60_000,
      });
      const end = await page.evaluate(() => (document.getElementById('v') as HTMLVideoElement).currentTime);
      expect(Math.abs(end - vod.duration_seconds)).toBeLessThan(1);
      expect((await playerState(page)).fatalErrors).toEqual([]);
    } finally {
      await context.close();
    }
  });

  it('serves a DASH MPD that parses and lists the same segments as the HLS VOD, and ffprobe decodes the VOD', async () => {
    const mpd = await fetch(vod.dash_url).then((r) => r.text());
    const context = await browser.newContext();
    let dashSegments: string[] = [];
    try {
      const page = await context.newPage();
      dashSegments = await page.evaluate((xml) => {
        const doc = new DOMParser().parseFromString(xml, 'application/xml');
        if (doc.getElementsByTagName('parsererror').length > 0) throw new Error('MPD is not XML');
        // Every Period's SegmentTemplate of the source video, expanded: $Number$ from startNumber
        // over its timeline's S entries (r repeats each).
        return [...doc.querySelectorAll('Representation[id="source"] SegmentTemplate')].flatMap(
          (template) => {
            const media = template.getAttribute('media') ?? '';
            const entries = [...template.querySelectorAll('S')];
            const count = entries.reduce((n, s) => n + 1 + Number(s.getAttribute('r') ?? 0), 0);
            const start = Number(template.getAttribute('startNumber'));
            return Array.from({ length: count }, (_, i) => media.replace('$Number$', String(start + i)));
          },
        );
      }, mpd);
    } finally {
      await context.close();
    }
    const hls = await fetch(vod.playback_url.replace('master.m3u8', 'source.m3u8')).then((r) => r.text());
    // The same segments, as the single-track (video) copies the DASH Representation plays.
    expect(dashSegments).toEqual(
      hls
        .split('\n')
        .filter((l) => l !== '' && !l.startsWith('#'))
        .map((l) => l.replace(/^source\//, 'source/track-1/')),
    );

    const decode = await run(
      'ffmpeg',
      ['-v', 'error', '-i', vod.playback_url, '-map', '0:v:0', '-f', 'null', '-'],
      90_000,
    );
    expect(decode.code, decode.out).toBe(0);
    expect(Math.abs((await probeDuration(vod.playback_url)) - vod.duration_seconds)).toBeLessThan(1);
  });

  // dash.js used to stop at 3.9 s of such a VOD without an error: the MPD's video Representations
  // were muxed (DASH-IF IOP v4.3 3.2.1: one media component per Representation; media/dash/).
  it('plays the VOD to its end over DASH in dash.js and in Shaka Player, video and audio, without an error', async () => {
    for (const name of ['dash.js', 'shaka'] as const) {
      const played = await playDash(browser, platform.baseUrl, name, vod.dash_url, { rate: 4 });
      expect(played.errors, name).toEqual([]);
      expect(played.ended, `${name}: ${JSON.stringify(played)}`).toBe(true);
      expect(Math.abs(played.currentTime - vod.duration_seconds), name).toBeLessThan(0.5);
      // Both media components were decoded, the video all along (a 30 fps test pattern).
      expect(played.videoFrames, name).toBeGreaterThan(vod.duration_seconds * 30 * 0.9);
      expect(played.audioBytes, name).toBeGreaterThan(0);
    }
  });

  it('cuts a clip from the VOD that plays, and refuses a window past the end or of a deleted VOD (422)', async () => {
    const created = await createClip({ duration_seconds: 8, offset_seconds: 4 });
    expect(created.status, JSON.stringify(created.body)).toBe(202);
    const clip = await waitForClip(created.body.clip_id);
    expect(clip.status, clip.failure_reason ?? '').toBe('ready');
    expect(Math.abs((await probeDuration(clip.url)) - 8)).toBeLessThan(0.5);
    const played = await playMp4(clip.url);
    expect(played.error).toBeNull();
    expect(played.ended || played.currentTime > 3).toBe(true);

    const pastEnd = await createClip({
      duration_seconds: 10,
      offset_seconds: Math.ceil(vod.duration_seconds),
    });
    expect(pastEnd.status).toBe(422);
    const deleted = await api.request('DELETE', `/vods/${vod.id}`);
    expect(deleted.status).toBe(204);
    expect((await fetch(vod.playback_url)).status).toBe(404);
    const expired = await createClip({ duration_seconds: 8, offset_seconds: 4 });
    expect(expired.status).toBe(422);
    // Clips outlive their VOD.
    expect(Math.abs((await probeDuration(clip.url)) - 8)).toBeLessThan(0.5);
  });
});
