// The relayed standby end to end (docs/deploy.md, "Relayed standby"): wrangler dev, two real
// transcoder nodes of one stream each behind real HAProxy, one encoder (a reconnecting ffmpeg
// publisher) and hls.js in Chromium. The node that receives the publish relays the source to the
// other node, whose pipeline waits warm as the stream's standby. Killing the active ffmpeg (kill -9)
// puts the standby on air at its next claim, and the first node waits as the standby in turn, still
// holding the encoder's connection and feeding the relay; killing the node now on air (SIGKILL of its
// process group) puts the first node back on air. One stream, two discontinuities, no reconnect in
// either path (the fleet has no room for one), and the stall the viewer sees is measured each time.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { LocalFleet } from '../../scripts/lib/fleet.ts';
import { stopAllManaged, waitFor } from '../../scripts/lib/platform.ts';
import { type Platform, startPlatform } from './harness.ts';
import { ApiClient, uniqueName } from './lib/api.ts';
import {
  findDualPublish,
  killActiveFfmpeg,
  killNode,
  longestGap,
  openMeteredPlayer,
  type PartWatch,
  readPlayerMeter,
  startOneStreamFleet,
  startReconnectingPublisher,
  waitForDualPublish,
  watchPartArrivals,
} from './lib/fleet-failover.ts';
import { launchBrowser, playerState, samplePlayer } from './lib/player.ts';
import { publishTestPattern } from './lib/publisher.ts';

const Live = z.object({ stream_id: z.string(), manifest_url: z.string() });
const Started = z.object({ stream_key: z.string() });

describe('relayed standby', () => {
  let platform: Platform;
  let fleet: LocalFleet;
  let frontRtmp: number;

  beforeAll(async () => {
    platform = await startPlatform({ transcoder: false });
    // The test channel's tier (none: passthrough, cheap on two cores) is relayed here; partner by default.
    ({ fleet, frontRtmp } = await startOneStreamFleet(platform, {
      name: 'relay',
      env: { RELAY_STANDBY_TIERS: 'none' },
    }));
  }, 120_000);

  afterAll(async () => {
    await stopAllManaged();
    await platform?.stop();
  });

  it('puts the relayed standby on air when the active ffmpeg dies, then the first node back when the node on air dies', async () => {
    const api = new ApiClient(platform.baseUrl);
    const me = await api.signup(uniqueName('relay'));
    const channelId = me.channel.id;
    const start = await api.request('POST', '/streams/start', { channel_id: channelId });
    expect(start.status).toBe(200);
    const started = Started.parse(start.body);
    const publisher = startReconnectingPublisher(
      () => publishTestPattern(`rtmp://127.0.0.1:${frontRtmp}/live/${started.stream_key}`),
      { retryDelayMs: 1_000 },
    );
    const browser = await launchBrowser();
    const parts = watchPartArrivals(`${platform.baseUrl}/live/${channelId}/source.m3u8`);
    try {
      const readLive = async () => {
        const res = await fetch(`${platform.baseUrl}/api/v1/streams/${channelId}/live`);
        return res.status === 200 ? Live.parse(await res.json()) : undefined;
      };
      const before = await waitFor('the stream to go live', readLive, 45_000, 250);
      const placed = await waitForDualPublish(fleet, channelId, 30_000);
      const page = await openMeteredPlayer(
        await browser.newContext(),
        platform.baseUrl,
        before.manifest_url,
        3,
      );
      // The standby has held a segment or more by now (2 s keyframes).
      await new Promise((resolve) => setTimeout(resolve, 3_000));
      expect(parts.last().split('#EXT-X-DISCONTINUITY').length - 1).toBe(0);

      const failover = async (what: string, kill: () => Promise<number>, expectOnAir: string) => {
        const atKill = await samplePlayer(page);
        const killedAt = await kill();
        await waitFor(
          `${expectOnAir} on air`,
          async () => ((await findDualPublish(fleet, channelId)).onAir === expectOnAir ? true : undefined),
          30_000,
          100,
        );
        const resumedAt = await waitForPartAfter(parts, killedAt);
        const atResume = (await samplePlayer(page)).currentTime;
        await waitFor(
          'the player to play 4 s past the failover',
          async () => ((await samplePlayer(page)).currentTime >= atResume + 4 ? true : undefined),
          30_000,
          200,
        );
        const meter = await readPlayerMeter(page);
        const gap = longestGap(parts.arrivals, killedAt, resumedAt) ?? Number.NaN;
        const stall = longestGap(meter.progress, killedAt, Date.now()) ?? Number.NaN;
        console.log(
          `relayed standby, ${what}: ${expectOnAir} went on air; no new part listed for ` +
            `${(gap / 1000).toFixed(2)} s, video stood still for ${(stall / 1000).toFixed(2)} s ` +
            `(at the kill ${atKill.bufferAhead.toFixed(2)} s buffered, ` +
            `${atKill.latency?.toFixed(2) ?? '?'} s behind the live edge)`,
        );
        return { gap, stall };
      };

      // 1. The active ffmpeg on the node holding the encoder: the relay's standby goes on air.
      const first = await failover(
        'active ffmpeg killed',
        () => killActiveFfmpeg(fleet, placed.onAir, channelId),
        placed.standby,
      );
      // The first node waits as the standby now, its restarted ffmpeg warm (a segment held).
      await waitFor(
        'the first node to wait as the standby',
        async () => ((await findDualPublish(fleet, channelId)).standby === placed.onAir ? true : undefined),
        15_000,
        200,
      );
      await new Promise((resolve) => setTimeout(resolve, 3_000));
      // 2. The node on air now (the relay's): the first node goes back on air.
      const second = await failover(
        'node on air killed',
        () => killNode(fleet, placed.standby),
        placed.onAir,
      );

      const after = await readLive();
      expect(after?.stream_id).toBe(before.stream_id);
      expect(parts.last().split('#EXT-X-DISCONTINUITY').length - 1).toBe(2);
      expect((await playerState(page)).fatalErrors).toEqual([]);
      // The encoder never reconnected: both hand-overs were the standby's.
      expect(publisher.starts).toHaveLength(1);
      // Bounds for two shared cores; the figures are printed above.
      for (const { gap, stall } of [first, second]) {
        expect(gap).toBeLessThan(5_000);
        expect(stall).toBeLessThan(5_000);
      }
    } finally {
      parts.stop();
      await publisher.stop();
      await browser.close();
    }
  }, 180_000);
});

async function waitForPartAfter(parts: PartWatch, killedAt: number): Promise<number> {
  return waitFor(
    'new parts after the kill',
    async () => parts.arrivals.find((at) => at > killedAt + 300),
    30_000,
    100,
  );
}
