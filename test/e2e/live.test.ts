// The live path end to end: ffmpeg publishes over RTMP like OBS, the transcoder authorizes the key
// with the origin, transcodes and pushes CMAF parts, and hls.js in Chromium plays the LL-HLS
// stream from the Worker.
import { spawn } from 'node:child_process';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../../scripts/lib/platform.ts';
import { type Platform, startPlatform } from './harness.ts';
import { ApiClient, type SignedUp, uniqueName } from './lib/api.ts';
import { type LaunchedBrowser, launchBrowser, openPlayer, playerState, samplePlayer } from './lib/player.ts';
import { type Publisher, publishTestPattern } from './lib/publisher.ts';

interface LiveStream {
  stream_id: string;
  manifest_url: string;
  chat_websocket: string;
  thumbnail_url: string | null;
}

const RECONNECT_WINDOW_SECONDS = 12;

let platform: Platform;
let browser: LaunchedBrowser;
let api: ApiClient;
let me: SignedUp;
let key: string;

async function getLive(channelId: string): Promise<LiveStream | undefined> {
  const res = await api.request<LiveStream>('GET', `/streams/${channelId}/live`);
  return res.status === 200 ? res.body : undefined;
}

async function fetchText(url: string): Promise<string> {
  const res = await fetch(url);
  return res.text();
}

function ffprobe(url: string): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn('ffprobe', [
      '-v',
      'error',
      '-rw_timeout',
      '15000000',
      '-show_entries',
      'stream=codec_name,width,height',
      '-of',
      'csv=p=0',
      url,
    ]);
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      out += d.toString();
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 40_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

describe('live video end to end', () => {
  let publisher: Publisher | undefined;

  beforeAll(async () => {
    platform = await startPlatform({
      transcoder: true,
      vars: { RECONNECT_WINDOW_SECONDS: String(RECONNECT_WINDOW_SECONDS) },
      // The Worker's info lines carry the publishes' trace ids (the ENDLIST test follows one).
      workerLogLevel: 'log',
    });
    browser = await launchBrowser();
    api = new ApiClient(platform.baseUrl);
    me = await api.signup(uniqueName('live'));
    key = (await api.streamKey(me.channel.id)).stream_key;
  });

  afterAll(async () => {
    await publisher?.stop('SIGKILL');
    await browser?.close();
    await platform?.stop();
  });

  it('refuses a publish with an unknown key before any media and creates nothing', async () => {
    const bad = publishTestPattern(`${platform.rtmpUrl}/live_not_a_real_key`, { durationSeconds: 20 });
    const code = await Promise.race([
      bad.exited,
      new Promise<'hung'>((r) => setTimeout(() => r('hung'), 15_000)),
    ]);
    await bad.stop('SIGKILL');
    expect(code).not.toBe('hung');
    expect(code).not.toBe(0);
    expect(await getLive(me.channel.id)).toBeUndefined();
  });

  it('goes live from an OBS-like RTMP publish and hls.js in Chromium plays 15 s in low-latency mode', async () => {
    publisher = publishTestPattern(`${platform.rtmpUrl}/${key}`);
    const live = await waitFor('the stream to go live', () => getLive(me.channel.id), 30_000, 250);
    expect(live.manifest_url).toMatch(/\/live\/.+\/master\.m3u8$/);
    const master = await fetchText(live.manifest_url);
    expect(master).toContain('#EXT-X-STREAM-INF');
    // The publisher's H.264 with its 2 s GOP is served as the source rendition untouched.
    const stats = (await (await fetch(`${platform.transcoderUrl}/stats`)).json()) as {
      streams: Array<{ channelId: string; passthrough: boolean }>;
    };
    expect(stats.streams.find((s) => s.channelId === me.channel.id)?.passthrough).toBe(true);

    const context = await browser.newContext();
    const page = await openPlayer(context, platform.baseUrl, live.manifest_url, { lowLatency: true });
    const first = await waitFor(
      'playback to start',
      async () => {
        const s = await samplePlayer(page);
        return s.currentTime > 0 ? s : undefined;
      },
      30_000,
      250,
    );
    await new Promise((r) => setTimeout(r, 16_000));
    const last = await samplePlayer(page);
    const state = await playerState(page);
    await context.close();
    expect(state.fatalErrors).toEqual([]);
    expect(last.currentTime - first.currentTime).toBeGreaterThanOrEqual(14.5);
    expect(last.latency).not.toBeNull();
    // A low-latency player sits within a few part durations of the live edge.
    expect(last.latency ?? 99).toBeLessThan(4);
  });

  it('serves the same playlists to a player that knows nothing of LL-HLS (ffprobe)', async () => {
    const live = await getLive(me.channel.id);
    expect(live).toBeDefined();
    const media = new URL('source.m3u8', live?.manifest_url).toString();
    const probe = await ffprobe(media);
    expect(probe.out).toContain('h264');
    expect(probe.code).toBe(0);
  });

  it('keeps serving a live stream while another connection sends garbage', async () => {
    const live = await getLive(me.channel.id);
    const media = new URL('source.m3u8', live?.manifest_url).toString();
    const before = await fetchText(media);
    await new Promise<void>((resolve) => {
      const socket = connect(platform.rtmpPort, '127.0.0.1', () => {
        socket.write(Buffer.from([0x03]));
        socket.write(Buffer.alloc(1536, 7));
        socket.write(Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 37) & 0xff)));
      });
      socket.on('error', () => resolve());
      socket.on('close', () => resolve());
      setTimeout(() => {
        socket.destroy();
        resolve();
      }, 3_000);
    });
    await new Promise((r) => setTimeout(r, 2_500));
    const after = await fetchText(media);
    const msn = (text: string) => Number(/#EXT-X-MEDIA-SEQUENCE:(\d+)/.exec(text)?.[1] ?? -1);
    const lastSegment = (text: string) =>
      text.split('\n').filter((l) => l.endsWith('.m4s') && !l.startsWith('#')).length + msn(text);
    expect(lastSegment(after)).toBeGreaterThan(lastSegment(before));
    expect(publisher?.process.exitCode).toBeNull();
  });

  it("recovers when the transcoder's ffmpeg dies: a new ffmpeg within seconds and a discontinuity", async () => {
    interface Stats {
      streams: Array<{ channelId: string; ffmpegPid: number | null; ffmpegRuns: number }>;
    }
    const readStream = async () => {
      const stats = (await (await fetch(`${platform.transcoderUrl}/stats`)).json()) as Stats;
      return stats.streams.find((s) => s.channelId === me.channel.id);
    };
    const before = await readStream();
    expect(before?.ffmpegPid).toBeGreaterThan(0);
    process.kill(before?.ffmpegPid ?? 0, 'SIGKILL');
    const killedAt = Date.now();
    const after = await waitFor(
      'a new ffmpeg',
      async () => {
        const s = await readStream();
        return s && s.ffmpegRuns > (before?.ffmpegRuns ?? 0) && s.ffmpegPid !== before?.ffmpegPid
          ? s
          : undefined;
      },
      10_000,
      100,
    );
    expect(Date.now() - killedAt).toBeLessThan(4_000);
    expect(after.ffmpegPid).not.toBe(before?.ffmpegPid);
    const live = await getLive(me.channel.id);
    const media = new URL('source.m3u8', live?.manifest_url).toString();
    await waitFor(
      'a discontinuity after the restart',
      async () => ((await fetchText(media)).includes('#EXT-X-DISCONTINUITY') ? true : undefined),
      20_000,
      500,
    );
    expect(publisher?.process.exitCode).toBeNull();
  });

  it('continues the same stream with a discontinuity when the publisher reconnects inside the window', async () => {
    const before = await getLive(me.channel.id);
    expect(before).toBeDefined();
    const media = new URL('source.m3u8', before?.manifest_url).toString();
    // One discontinuity is already there from the ffmpeg restart above.
    expect((await fetchText(media)).split('#EXT-X-DISCONTINUITY\n').length).toBe(2);
    await publisher?.stop('SIGKILL');
    await new Promise((r) => setTimeout(r, 3_000));
    publisher = publishTestPattern(`${platform.rtmpUrl}/${key}`);
    await waitFor(
      'a second discontinuity in the playlist',
      async () => ((await fetchText(media)).split('#EXT-X-DISCONTINUITY\n').length > 2 ? true : undefined),
      30_000,
      500,
    );
    const after = await getLive(me.channel.id);
    expect(after?.stream_id).toBe(before?.stream_id);
  });

  it('ends the stream with ENDLIST once the reconnect window passes', async () => {
    const live = await getLive(me.channel.id);
    await publisher?.stop('SIGINT');
    publisher = undefined;
    const media = new URL('source.m3u8', live?.manifest_url).toString();
    await waitFor(
      'ENDLIST',
      async () => ((await fetchText(media)).includes('#EXT-X-ENDLIST') ? true : undefined),
      (RECONNECT_WINDOW_SECONDS + 25) * 1000,
      1_000,
    );
    expect(await getLive(me.channel.id)).toBeUndefined();

    // One trace id tells this publish's story across both processes, from the reconnect's
    // connect to the stream's end and its queue event (docs/operations.md).
    const authorized = platform.traceLines.findLast(
      ({ line }) => line.event === 'rtmp.publish_authorization' && line.stream_id === live?.stream_id,
    );
    const traceId = authorized?.line.trace_id;
    expect(traceId).toMatch(/^[0-9a-f]{32}$/);
    const story = (process: 'worker' | 'transcoder') =>
      platform.traceLines
        .filter((entry) => entry.process === process && entry.line.trace_id === traceId)
        .map(({ line }) => String(line.event));
    await waitFor(
      'the stream.ended event to be consumed',
      async () => (story('worker').includes('event_applied') ? true : undefined),
      30_000,
      500,
    );
    expect(story('transcoder')).toEqual(
      expect.arrayContaining([
        'rtmp.connected',
        'rtmp.publish_authorization',
        'rtmp.publish_started',
        'pipeline.transcode_starting',
        'rtmp.connection_closed',
        'pipeline.closed',
      ]),
    );
    expect(story('worker')).toEqual(
      expect.arrayContaining([
        'publish_begun',
        'publish_authorized',
        'ingest_init_committed',
        'publisher_dropped',
        'publish_ended',
        'stream_ending',
        'stream_ended',
        'event_applied',
      ]),
    );
  });

  it('cuts the live publisher off when the stream key is reset, and refuses the old key', async () => {
    publisher = publishTestPattern(`${platform.rtmpUrl}/${key}`);
    const relive = await waitFor('the stream to go live again', () => getLive(me.channel.id), 30_000, 250);
    const reset = await api.request<{ stream_key: string }>(
      'POST',
      `/channels/${me.channel.id}/stream-key/reset`,
    );
    expect(reset.status).toBe(200);
    expect(reset.body.stream_key).not.toBe(key);
    const code = await Promise.race([
      publisher.exited,
      new Promise<'still publishing'>((r) => setTimeout(() => r('still publishing'), 15_000)),
    ]);
    expect(code).not.toBe('still publishing');
    // A cut-off publish is closed as kicked, and the origin (which answers 409 now) is not asked to end it.
    const closedLine = await waitFor(
      'the transcoder to close the kicked pipeline',
      async () =>
        platform.logs.find(
          (line) =>
            line.includes('"event":"pipeline.closed"') && line.includes(`"stream_id":"${relive.stream_id}"`),
        ),
      10_000,
      250,
    );
    expect(closedLine).toContain('"reason":"kicked"');
    const endFailures = platform.logs.filter(
      (line) => line.includes('"event":"pipeline.end_not_reported"') && line.includes(relive.stream_id),
    );
    expect(endFailures).toEqual([]);
    const again = publishTestPattern(`${platform.rtmpUrl}/${key}`, { durationSeconds: 20 });
    const againCode = await Promise.race([
      again.exited,
      new Promise<'hung'>((r) => setTimeout(() => r('hung'), 15_000)),
    ]);
    await again.stop('SIGKILL');
    expect(againCode).not.toBe('hung');
    expect(againCode).not.toBe(0);
    publisher = undefined;
  });
});
