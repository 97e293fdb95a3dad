// The in-node hot standby end to end: a partner stream (HOT_STANDBY_TIERS=partner) published over
// RTMP by ffmpeg at 320x180 30 fps, the transcoder running its active and standby ffmpeg, hls.js in
// Chromium watching the LL-HLS stream from the Worker. The active ffmpeg is killed with SIGKILL;
// the page measures how long the video stands still, and the playlist must go on without a
// discontinuity (the standby's parts are bit-identical and continue the same sequence).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { waitFor } from '../../scripts/lib/platform.ts';
import { type Platform, startPlatform } from './harness.ts';
import { ApiClient, type SignedUp, uniqueName } from './lib/api.ts';
import { longestGap, openMeteredPlayer, readPlayerMeter } from './lib/fleet-failover.ts';
import { type LaunchedBrowser, launchBrowser, playerState, samplePlayer } from './lib/player.ts';
import { type Publisher, publishTestPattern } from './lib/publisher.ts';

/**
 * The goal is a stall of at most 1 s; the assertion leaves 0.5 s for a loaded 2-core CI
 * machine. Today's restart without a standby stalls longer and, above all, lists a discontinuity,
 * which this test refuses outright.
 */
const MAX_STALL_MS = 1_500;
/** How long after the kill the video's progress is watched. */
const WATCH_MS = 8_000;

const Stats = z.object({
  streams: z.array(
    z.object({
      channelId: z.string(),
      ffmpegPid: z.number().nullable(),
      standbyPid: z.number().nullable(),
      standby: z
        .object({
          running: z.boolean(),
          promotions: z.number(),
          seamlessPromotions: z.number(),
          gates: z.record(z.string(), z.object({ compared: z.number(), mismatched: z.number() })),
        })
        .nullable(),
    }),
  ),
});
const Live = z.object({ manifest_url: z.string() });

describe('hot standby end to end', () => {
  let platform: Platform;
  let browser: LaunchedBrowser;
  let publisher: Publisher | undefined;
  let me: SignedUp;

  beforeAll(async () => {
    platform = await startPlatform({ transcoder: true, transcoderEnv: { HOT_STANDBY_TIERS: 'partner' } });
    browser = await launchBrowser();
  });

  afterAll(async () => {
    await publisher?.stop();
    await browser?.close();
    await platform?.stop();
  });

  const readStream = async () => {
    const stats = Stats.parse(await (await fetch(`${platform.transcoderUrl}/stats`)).json());
    return stats.streams.find((stream) => stream.channelId === me.channel.id);
  };

  it("keeps a partner stream playing with no discontinuity when the active ffmpeg is killed -9, and measures the viewer's stall", async () => {
    const api = new ApiClient(platform.baseUrl);
    me = await api.signup(uniqueName('standby'));
    await platform.setChannelTier(me.channel.id, 'partner');
    const { stream_key } = await api.streamKey(me.channel.id);
    publisher = publishTestPattern(`${platform.rtmpUrl}/${stream_key}`, { size: '320x180' });
    const live = await waitFor(
      'the stream to go live',
      async () => {
        const res = await api.request('GET', `/streams/${me.channel.id}/live`);
        return res.status === 200 ? Live.parse(res.body) : undefined;
      },
      30_000,
      500,
    );
    // The standby has matched the active part for part before it is needed.
    const before = await waitFor(
      'the standby to match the active',
      async () => {
        const stream = await readStream();
        const gates = Object.values(stream?.standby?.gates ?? {});
        return gates.length > 0 && gates.every((gate) => gate.compared >= 10) ? stream : undefined;
      },
      30_000,
      250,
    );
    for (const gate of Object.values(before.standby?.gates ?? {})) expect(gate.mismatched).toBe(0);

    const context = await browser.newContext();
    const page = await openMeteredPlayer(context, platform.baseUrl, live.manifest_url, 4);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const atKill = await samplePlayer(page);
    const media = new URL('source.m3u8', live.manifest_url).toString();
    const discontinuities = async () =>
      ((await (await fetch(media)).text()).match(/#EXT-X-DISCONTINUITY\n/g) ?? []).length;
    const discontinuitiesBefore = await discontinuities();

    const killed = before.ffmpegPid ?? 0;
    const killedAt = Date.now();
    process.kill(killed, 'SIGKILL');
    const after = await waitFor(
      'the promotion',
      async () => {
        const stream = await readStream();
        return (stream?.standby?.promotions ?? 0) >= 1 ? stream : undefined;
      },
      10_000,
      100,
    );
    expect(after.ffmpegPid).toBe(before.standbyPid);
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, killedAt + WATCH_MS - Date.now())));

    const meter = await readPlayerMeter(page);
    const stall = longestGap(meter.progress, killedAt, killedAt + WATCH_MS) ?? Number.NaN;
    const loadGap = longestGap(meter.loads, killedAt, killedAt + WATCH_MS) ?? Number.NaN;
    const state = await playerState(page);
    console.log(
      `hot standby: killed ffmpeg ${killed}, promoted ${after.ffmpegPid} (${after.standby?.seamlessPromotions} seamless); ` +
        `video stood still for at most ${(stall / 1000).toFixed(2)} s, longest time without an hls.js load ` +
        `${(loadGap / 1000).toFixed(2)} s (at the kill ${atKill.bufferAhead.toFixed(2)} s buffered, ` +
        `${atKill.latency?.toFixed(2) ?? '?'} s behind the live edge); non-fatal hls.js errors: ${state.errors.join(', ') || 'none'}`,
    );
    expect(state.fatalErrors).toEqual([]);
    expect(after.standby?.seamlessPromotions).toBe(1);
    // No discontinuity: the standby's parts continue the same sequence (no lost VOD time).
    expect(await discontinuities()).toBe(discontinuitiesBefore);
    expect(stall).toBeLessThan(MAX_STALL_MS);
    // The killed lane comes back as the new standby.
    await waitFor(
      'a new standby',
      async () => {
        const stream = await readStream();
        return stream?.standby?.running && stream.standbyPid !== killed ? true : undefined;
      },
      10_000,
      250,
    );
    await context.close();
  });
});
