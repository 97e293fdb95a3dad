// Ingest fleet failover and streams per node (issue 11), on a whole local platform: wrangler dev (the
// real FleetRegistry and LiveStream objects), two transcoder nodes behind HAProxy (scripts/lib/fleet.ts),
// a 1280x720 30 fps H.264 + AAC source (bench/transcode-speed.ts's cached file, sent as is with -re,
// so publishers cost no encoding CPU).
//   failover: a tier-none stream through the front with an OBS-like publisher (reconnect 1 s after a
//     drop); KILLS times the node holding it is SIGKILLed with its ffmpegs (then started again, so two
//     nodes are up for the next kill). Gap = the longest time the origin's media playlist listed no
//     new part (polled every 100 ms), with when the reconnect was placed and the first part listed;
//     and what a viewer sees: hls.js in Chromium (the e2e tests' player page) plays the stream all
//     along, and each kill's stall is the longest time its video clock stood still (sampled every
//     50 ms) from the kill until it has played 3 s past the failover. `--no-page` leaves it out.
//   streams per node: publishers straight to node-1 (MAX_ENCODES raised so placement does not cap
//     it), one more at a time per tier; a step keeps up when every stream's ffmpeg on the node runs
//     at real time and nothing is dropped (keptUp). Reported: the most streams that kept up.
//     Each kill gets a page of its own that has watched 8 s and stopped catching up (a steady viewer,
//     ~1 s behind the live edge); `--same-viewer` keeps one page through every kill instead.
//   `--dual`: the encoder publishes twice (docs/deploy.md, "Dual publish"), to the front and with
//     `?backup=1` to the backup address; each kill takes the node whose pipeline is on air, and the
//     other's waiting standby goes on air (placed = on air there); the restarted node's next
//     publish becomes the new standby.
//   `--relay`: the node receiving the publish relays the source to the other node (docs/deploy.md,
//     "Relayed standby"), whose pipeline waits as the stream's standby; the kills alternate between
//     the ffmpeg on air (kill -9; that node then waits as the standby) and the node on air (the
//     relay's; started again, the relay comes back to it as the next standby).
//   node bench/fleet-failover.ts [--streams-only | --failover-only] [--no-page] [--same-viewer]
//     [--retry-ms N]  (the publisher's reconnect delay, default 1000; OBS's default is 2000)
//     [--dual | --relay] [--tier none|affiliate|partner]  (the failover channel's tier, default none)
import { spawn } from 'node:child_process';
import { appendFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { z } from 'zod';
import { ChannelTier } from '../protocol/ingest.ts';
import { type LocalFleet, startLocalFleet } from '../scripts/lib/fleet.ts';
import { findFreePort, findFreePortBlock, stopAllManaged, waitFor } from '../scripts/lib/platform.ts';
import { type Platform, startPlatform } from '../test/e2e/harness.ts';
import { ApiClient, uniqueName } from '../test/e2e/lib/api.ts';
import {
  findDualPublish,
  findHolder,
  killActiveFfmpeg,
  killHoldingNode,
  killNode,
  longestGap,
  openMeteredPlayer,
  readFleet,
  readPlayerMeter,
  startReconnectingPublisher,
  waitForDualPublish,
  waitForSteadyPlayer,
  watchPartArrivals,
} from '../test/e2e/lib/fleet-failover.ts';
import { type LaunchedBrowser, launchBrowser, playerState, samplePlayer } from '../test/e2e/lib/player.ts';
import type { Publisher } from '../test/e2e/lib/publisher.ts';
import { type BenchOutcome, QUICK, readArg, runBenchmark } from './lib/bench.ts';
import { formatNumber, roundSummary, summarize } from './lib/stats.ts';
import { ensureSource } from './transcode-speed.ts';

const KILLS = QUICK ? 2 : 10;
/** `node bench/fleet-failover.ts --streams-only`: the streams-per-node part alone. */
const STREAMS_ONLY = process.argv.includes('--streams-only');
/** `node bench/fleet-failover.ts --failover-only`: the kills alone. */
const FAILOVER_ONLY = process.argv.includes('--failover-only');
/** `--no-page`: no player in Chromium, the origin's figures only. */
const PAGE = !process.argv.includes('--no-page');
/**
 * `--same-viewer`: one page watches through every kill (consecutive failovers for one viewer, who
 * after the first sits closer to the live edge). By default each kill gets a page of its own that
 * has watched long enough to be steady, as a viewer is when a node dies under them.
 */
const SAME_VIEWER = process.argv.includes('--same-viewer');
/** `--dual`: a dual publish, the failover by the waiting standby instead of the encoder's reconnect. */
const DUAL = process.argv.includes('--dual');
/** `--relay`: a relayed standby; the kills alternate between the ffmpeg on air and the node on air. */
const RELAY = process.argv.includes('--relay');
/** `--tier T`: the failover channel's tier (default none, its source sent as is; partner encodes a ladder). */
const FAILOVER_TIER = ChannelTier.parse(readArg('tier', 'none'));
/** A fresh page watches this long (and until hls.js stops catching up) before its kill. */
const VIEWER_SETTLE_SECONDS = 8;
/**
 * `--retry-ms N`: how long the publisher waits after a drop before it reconnects (default 1000;
 * OBS's own default is 2000).
 */
const RETRY_DELAY_MS = Math.min(10_000, Math.max(0, Number(readArg('retry-ms', '1000')) || 0));
/** The player counts as steady again once it has played this much video past the failover. */
const STEADY_PLAY_SECONDS = 3;
const WINDOW_MS = QUICK ? 4_000 : 8_000;
/** The most streams tried per tier (two shared cores: the encoded tiers stop well before). */
const STREAM_CAPS: Record<ChannelTier, number> = QUICK
  ? { none: 2, affiliate: 1, partner: 1 }
  : { none: 6, affiliate: 4, partner: 3 };
/** The rendition whose pace is measured: the source for passthrough, an encoded rung otherwise. */
const MEASURED: Record<ChannelTier, string> = { none: 'source', affiliate: '480p30', partner: '480p30' };

/**
 * The node keeps up when every stream's ffmpeg runs at real time (>= 0.95x) and its uploader drops
 * nothing; the origin's listed pace is reported beside it: on a machine shared with wrangler dev it
 * also measures the local origin, not the node.
 */
function keptUp(step: { slowestFfmpeg: number | null; droppedParts: number }): boolean {
  return step.slowestFfmpeg !== null && step.slowestFfmpeg >= 0.95 && step.droppedParts === 0;
}
const SEGMENT_SECONDS = 2;
const PART_SECONDS = 0.2;

/** The source file sent as is, looped, paced by -re: an encoder's stream at no encoding cost. */
function publishFile(url: string, file: string): Publisher {
  const child = spawn(
    'ffmpeg',
    ['-hide_banner', '-loglevel', 'error', '-nostdin', '-re', '-stream_loop', '-1', '-i', file].concat([
      '-c',
      'copy',
      // As OBS's librtmp does: without it ffmpeg's Nagle holds each small RTMP command for the
      // server's delayed ACK (~40 ms a round trip, ~130 ms per connect).
      '-tcp_nodelay',
      '1',
      '-f',
      'flv',
      url,
    ]),
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  const stderr: string[] = [];
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (text: string) => {
    stderr.push(text);
    if (stderr.length > 200) stderr.shift();
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    process: child,
    exited,
    stderr,
    stop: async (signal: NodeJS.Signals = 'SIGINT') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}

/** Seconds of media a media playlist has listed so far (segments of 2 s, parts of 0.2 s). */
function listedSeconds(playlist: string): number | null {
  const sequence = /#EXT-X-MEDIA-SEQUENCE:(\d+)/.exec(playlist)?.[1];
  if (sequence === undefined) return null;
  const lines = playlist.split('\n');
  const lastUri = lines.findLastIndex((line) => line !== '' && !line.startsWith('#'));
  const segments = lines.filter((line) => line !== '' && !line.startsWith('#')).length;
  const openParts = lines.slice(lastUri + 1).filter((line) => line.startsWith('#EXT-X-PART:')).length;
  return (Number(sequence) + segments) * SEGMENT_SECONDS + openParts * PART_SECONDS;
}

async function readListedSeconds(url: string): Promise<number | null> {
  const res = await fetch(url).catch(() => null);
  if (!res?.ok) {
    await res?.body?.cancel();
    return null;
  }
  return listedSeconds(await res.text());
}

interface Channel {
  channelId: string;
  streamKey: string;
}

async function createChannel(platform: Platform, tier: ChannelTier): Promise<Channel> {
  const api = new ApiClient(platform.baseUrl);
  const me = await api.signup(uniqueName('fleetbench'));
  if (tier !== 'none') await platform.setChannelTier(me.channel.id, tier);
  return { channelId: me.channel.id, streamKey: (await api.streamKey(me.channel.id)).stream_key };
}

interface Kill {
  /** The node killed, or `<node>:ffmpeg` for its ffmpeg on air (`--relay`). */
  killed: string;
  survivor: string;
  gapMs: number;
  reconnectMs: number;
  placedMs: number;
  firstPartMs: number;
  /** The longest time the page's video stood still across the kill; null with `--no-page`. */
  stallMs: number | null;
  /** Stall nudges (web/src/player/live-resync.ts) the page made across the failover; null with `--no-page`. */
  nudges: number | null;
  /** The page had played on and stopped catching up before the kill (false: the wait timed out). */
  steadyAtKill: boolean | null;
  /** Seconds of media the page had buffered ahead of its playhead at the kill; null with `--no-page`. */
  bufferAtKill: number | null;
  /** hls.latency at the kill (seconds behind the live edge); null with `--no-page`. */
  latencyAtKill: number | null;
  /** Seconds since the page's last playlist update at the kill (part of hls.latency); null with `--no-page`. */
  playlistAgeAtKill: number | null;
  attempts: number;
}

interface Viewer {
  browser: LaunchedBrowser;
  page: Page;
}

/** hls.js in Chromium on the stream's multivariant playlist, playing, with its gap meter running. */
async function openViewer(platform: Platform, channelId: string): Promise<Viewer> {
  const browser = await launchBrowser();
  try {
    return { browser, page: await openViewerPage(browser, platform, channelId) };
  } catch (error) {
    await browser.close();
    throw error;
  }
}

async function openViewerPage(
  browser: LaunchedBrowser,
  platform: Platform,
  channelId: string,
): Promise<Page> {
  return openMeteredPlayer(
    await browser.newContext(),
    platform.baseUrl,
    `${platform.baseUrl}/live/${channelId}/master.m3u8`,
    3,
  );
}

/** A new page in place of the viewer's last one (the default: one steady viewer per kill). */
async function replaceViewerPage(viewer: Viewer, platform: Platform, channelId: string): Promise<void> {
  const { fatalErrors } = await playerState(viewer.page);
  if (fatalErrors.length > 0) throw new Error(`hls.js failed: ${fatalErrors.join('; ')}`);
  await viewer.page.context().close();
  viewer.page = await openViewerPage(viewer.browser, platform, channelId);
}

/** Waits for the page to play STEADY_PLAY_SECONDS past now; the longest stall since `killedAt`. */
async function measureStall(page: Page, killedAt: number): Promise<number> {
  const atResume = (await samplePlayer(page)).currentTime;
  await waitFor(
    'the player to play on past the failover',
    async () => ((await samplePlayer(page)).currentTime >= atResume + STEADY_PLAY_SECONDS ? true : undefined),
    30_000,
    100,
  );
  const meter = await readPlayerMeter(page);
  return longestGap(meter.progress, killedAt, Date.now()) ?? Number.NaN;
}

/**
 * Kills the node carrying the stream; with `--dual` the one whose pipeline is on air, once the other
 * node's waits as its standby. The node that carries the stream on afterwards is the survivor.
 */
async function killCarrier(
  platform: Platform,
  fleet: LocalFleet,
  channelId: string,
  k: number,
): Promise<{
  killed: string;
  killedAt: number;
  restart: string | null;
  survivor: () => Promise<string | undefined>;
}> {
  if (RELAY && k % 2 === 0) {
    const pair = await waitForDualPublish(fleet, channelId, 30_000);
    const killedAt = await killActiveFfmpeg(fleet, pair.onAir, channelId);
    return {
      killed: `${pair.onAir}:ffmpeg`,
      killedAt,
      restart: null,
      survivor: async () =>
        (await findDualPublish(fleet, channelId)).onAir === pair.standby ? pair.standby : undefined,
    };
  }
  if (DUAL || RELAY) {
    const pair = await waitForDualPublish(fleet, channelId, 30_000);
    const killedAt = await killNode(fleet, pair.onAir);
    return {
      killed: pair.onAir,
      killedAt,
      restart: pair.onAir,
      survivor: async () =>
        (await findDualPublish(fleet, channelId)).onAir === pair.standby ? pair.standby : undefined,
    };
  }
  const snapshot = await readFleet(platform.baseUrl, platform.ingestSecret);
  const { nodeId: killed, killedAt } = await killHoldingNode(fleet, snapshot, channelId);
  return {
    killed,
    killedAt,
    restart: killed,
    survivor: async () => {
      const holder = findHolder(await readFleet(platform.baseUrl, platform.ingestSecret), channelId);
      return holder !== undefined && holder !== killed ? holder : undefined;
    },
  };
}

async function measureFailovers(
  platform: Platform,
  fleet: LocalFleet,
  front: { rtmp: number; backupRtmp: number },
  source: string,
): Promise<Kill[]> {
  const channel = await createChannel(platform, FAILOVER_TIER);
  const publisher = startReconnectingPublisher(
    () => publishFile(`rtmp://127.0.0.1:${front.rtmp}/live/${channel.streamKey}`, source),
    { retryDelayMs: RETRY_DELAY_MS },
  );
  // The encoder's second output, to the backup address, started once the first is on air.
  let backup: ReturnType<typeof startReconnectingPublisher> | null = null;
  const parts = watchPartArrivals(`${platform.baseUrl}/live/${channel.channelId}/source.m3u8`);
  const kills: Kill[] = [];
  let viewer: Viewer | null = null;
  try {
    await waitFor(
      'the stream to go live',
      async () => (parts.arrivals.length > 10 ? true : undefined),
      45_000,
      200,
    );
    if (DUAL)
      backup = startReconnectingPublisher(
        () => publishFile(`rtmp://127.0.0.1:${front.backupRtmp}/live/${channel.streamKey}?backup=1`, source),
        { retryDelayMs: RETRY_DELAY_MS },
      );
    if (PAGE) viewer = await openViewer(platform, channel.channelId);
    for (let k = 0; k < KILLS; k++) {
      // Both nodes registered and healthy again (HAProxy: 2 good checks a second apart).
      let seen: unknown;
      await waitFor(
        'both nodes active',
        async () => {
          const snapshot = await readFleet(platform.baseUrl, platform.ingestSecret);
          seen = snapshot;
          return snapshot.nodes.filter((n) => n.state === 'active').length === 2 &&
            findHolder(snapshot, channel.channelId) !== undefined
            ? snapshot
            : undefined;
        },
        30_000,
        200,
      ).catch((error: unknown) => {
        throw new Error(`${String(error)}; the fleet: ${JSON.stringify(seen)}`);
      });
      await new Promise((resolve) => setTimeout(resolve, 3_000));
      if (viewer && !SAME_VIEWER && k > 0) await replaceViewerPage(viewer, platform, channel.channelId);
      // Killed under a viewer who has watched for a while, not one at the latency it joined at.
      const settled = viewer
        ? await waitForSteadyPlayer(viewer.page, SAME_VIEWER ? 0 : VIEWER_SETTLE_SECONDS, 30_000)
        : null;
      const atKill = settled?.sample ?? null;
      const nudgesBefore = viewer ? (await playerState(viewer.page)).nudges : 0;
      const carrier = await killCarrier(platform, fleet, channel.channelId, k);
      const { killed, killedAt } = carrier;
      const survivor = await waitFor('the stream carried on the other node', carrier.survivor, 30_000, 100);
      const placedAt = Date.now();
      const resumedAt = await waitFor(
        'a new part after the kill',
        async () =>
          parts.arrivals.find((at) =>
            DUAL || RELAY ? at > killedAt + 300 : at > Math.max(placedAt, killedAt + 500),
          ),
        30_000,
        100,
      );
      const stallMs = viewer ? await measureStall(viewer.page, killedAt) : null;
      const nudges = viewer ? (await playerState(viewer.page)).nudges - nudgesBefore : null;
      const attempts = publisher.starts.filter((at) => at > killedAt);
      kills.push({
        killed,
        survivor,
        gapMs: longestGap(parts.arrivals, killedAt, resumedAt) ?? Number.NaN,
        reconnectMs: (attempts[0] ?? Number.NaN) - killedAt,
        placedMs: placedAt - killedAt,
        firstPartMs: resumedAt - killedAt,
        stallMs,
        bufferAtKill: atKill === null ? null : Math.round(atKill.bufferAhead * 100) / 100,
        latencyAtKill:
          atKill === null || atKill.latency === null ? null : Math.round(atKill.latency * 100) / 100,
        playlistAgeAtKill:
          atKill === null || atKill.playlistAge === null ? null : Math.round(atKill.playlistAge * 100) / 100,
        attempts: attempts.length,
        nudges,
        steadyAtKill: settled?.steady ?? null,
      });
      process.stdout.write(`  kill ${k + 1}: ${JSON.stringify(kills.at(-1))}\n`);
      if (carrier.restart !== null) await fleet.restartNode(carrier.restart);
    }
    if (viewer) {
      const { fatalErrors } = await playerState(viewer.page);
      if (fatalErrors.length > 0) throw new Error(`hls.js failed: ${fatalErrors.join('; ')}`);
    }
  } finally {
    parts.stop();
    await publisher.stop();
    await backup?.stop();
    await viewer?.browser.close();
  }
  return kills;
}

interface TierStep {
  streams: number;
  /** The slowest stream's listed pace at the origin over the window (1.0 = real time). */
  slowest: number;
  /** The slowest stream's ffmpeg speed on the node (its own average since it started). */
  slowestFfmpeg: number | null;
  /** Parts the node's uploaders dropped (origin too slow to take them), all streams. */
  droppedParts: number;
}

const NodeStats = z.object({
  streams: z.array(
    z.object({
      channelId: z.string(),
      ffmpegSpeed: z.number().nullable(),
      uploads: z.record(z.string(), z.object({ droppedParts: z.number() })),
    }),
  ),
});

async function readNodeStats(httpPort: number, channelIds: readonly string[]) {
  const stats = NodeStats.parse(await (await fetch(`http://127.0.0.1:${httpPort}/stats`)).json());
  const ours = stats.streams.filter((stream) => channelIds.includes(stream.channelId));
  const speeds = ours.map((stream) => stream.ffmpegSpeed ?? 0);
  return {
    slowestFfmpeg: speeds.length === channelIds.length ? Math.min(...speeds) : null,
    droppedParts: ours.reduce(
      (sum, stream) => sum + Object.values(stream.uploads).reduce((n, u) => n + u.droppedParts, 0),
      0,
    ),
  };
}

async function measureStreamsPerNode(
  platform: Platform,
  fleet: LocalFleet,
  source: string,
  tier: ChannelTier,
): Promise<TierStep[]> {
  const node = fleet.nodes[0];
  if (!node) throw new Error('no node-1');
  const publishers: Publisher[] = [];
  const urls: string[] = [];
  const channelIds: string[] = [];
  const steps: TierStep[] = [];
  try {
    for (let n = 1; n <= STREAM_CAPS[tier]; n++) {
      const channel = await createChannel(platform, tier);
      publishers.push(publishFile(`rtmp://127.0.0.1:${node.rtmpPort}/live/${channel.streamKey}`, source));
      channelIds.push(channel.channelId);
      const url = `${platform.baseUrl}/live/${channel.channelId}/${MEASURED[tier]}.m3u8`;
      urls.push(url);
      await waitFor(
        `stream ${n} (${tier}) to list ${MEASURED[tier]}`,
        async () => (((await readListedSeconds(url)) ?? 0) > 0 ? true : undefined),
        45_000,
        250,
      );
      // Past the start-up backlog, then the window.
      await new Promise((resolve) => setTimeout(resolve, 3_000));
      const startedAt = performance.now();
      const first = await Promise.all(urls.map(readListedSeconds));
      await new Promise((resolve) => setTimeout(resolve, WINDOW_MS));
      const last = await Promise.all(urls.map(readListedSeconds));
      const wall = (performance.now() - startedAt) / 1000;
      const paces = last.map((end, i) => ((end ?? 0) - (first[i] ?? 0)) / wall);
      const step = {
        streams: n,
        slowest: Math.min(...paces),
        ...(await readNodeStats(node.httpPort, channelIds)),
      };
      steps.push(step);
      process.stdout.write(
        `  ${tier} x${n}: paces ${paces.map((p) => p.toFixed(2)).join(' ')} ${JSON.stringify(step)}\n`,
      );
      if (!keptUp(step)) break;
    }
  } finally {
    await Promise.all(publishers.map((publisher) => publisher.stop('SIGKILL')));
  }
  // The node ends their publishes; the next tier starts on an empty node.
  await waitFor(
    'node-1 to be empty',
    async () => {
      const snapshot = await readFleet(platform.baseUrl, platform.ingestSecret);
      return snapshot.placements.every((p) => p.nodeId !== 'node-1' || p.state !== 'placed')
        ? true
        : undefined;
    },
    30_000,
    250,
  );
  return steps;
}

export const fleetFailoverBench = {
  name: 'fleet-failover',
  async run(): Promise<BenchOutcome> {
    const source = await ensureSource();
    // The local limits profile (npm start's): one signup per channel here, past the strict 5 an hour.
    const platform = await startPlatform({ transcoder: false, vars: { LIMITS_PROFILE: 'local' } });
    try {
      const frontRtmp = await findFreePort();
      const backupRtmp = await findFreePort();
      const base = await findFreePortBlock(30);
      // FLEET_LOG=<file>: every node's and HAProxy's lines, for a run that needs explaining.
      const fleetLog = process.env.FLEET_LOG;
      const fleet = await startLocalFleet({
        ...(fleetLog ? { onLine: (line: string) => appendFileSync(fleetLog, `${line}\n`) } : {}),
        nodes: 2,
        front: { rtmp: frontRtmp, rtmps: await findFreePort(), backupRtmp },
        originUrl: platform.baseUrl,
        ingestSecret: platform.ingestSecret,
        stateDir: mkdtempSync(join(tmpdir(), 'edgestream-bench-fleet-')),
        env: {
          TRANSCODER_ENCODER: 'x264',
          FLEET_MAX_STREAMS: '8',
          MAX_ENCODES: '16',
          DRAIN_DEADLINE_SECONDS: '1',
          // The failover channel's tier is the relayed one.
          ...(RELAY ? { RELAY_STANDBY_TIERS: FAILOVER_TIER } : {}),
        },
        basePorts: { rtmp: base, rtmps: base + 10, http: base + 20 },
      });
      const kills = STREAMS_ONLY
        ? []
        : await measureFailovers(platform, fleet, { rtmp: frontRtmp, backupRtmp }, source);
      const tiers: Array<[ChannelTier, TierStep[]]> = [];
      for (const tier of FAILOVER_ONLY ? [] : (['none', 'affiliate', 'partner'] as const))
        tiers.push([tier, await measureStreamsPerNode(platform, fleet, source, tier)]);
      const gap = summarize(kills.map((k) => k.gapMs / 1000));
      const placed = summarize(kills.map((k) => k.placedMs / 1000));
      const firstPart = summarize(kills.map((k) => k.firstPartMs / 1000));
      const stalls = kills.flatMap((k) => (k.stallMs === null ? [] : [k.stallMs / 1000]));
      const stall = summarize(stalls);
      const buffers = summarize(kills.flatMap((k) => (k.bufferAtKill === null ? [] : [k.bufferAtKill])));
      const kept = (steps: TierStep[]) => steps.filter(keptUp).at(-1)?.streams ?? 0;
      // `--relay`: the two kinds of kill apart (an ffmpeg yields at once; a node is found silent after 1 s).
      const relayRows = (['ffmpeg', 'node'] as const).flatMap((kind): string[][] => {
        if (!RELAY) return [];
        const ofKind = kills.filter((k) => k.killed.endsWith(':ffmpeg') === (kind === 'ffmpeg'));
        const kindGap = summarize(ofKind.map((k) => k.gapMs / 1000));
        const kindStall = summarize(ofKind.flatMap((k) => (k.stallMs === null ? [] : [k.stallMs / 1000])));
        const label = kind === 'ffmpeg' ? 'the ffmpeg on air killed' : 'the node on air killed';
        return [
          [
            `${label}: gap (s)`,
            formatNumber(kindGap.p50, 2),
            formatNumber(kindGap.max, 2),
            String(kindGap.count),
          ],
          ...(kindStall.count > 0
            ? [
                [
                  `${label}: video stood still (s)`,
                  formatNumber(kindStall.p50, 2),
                  formatNumber(kindStall.max, 2),
                  String(kindStall.count),
                ],
              ]
            : []),
        ];
      });
      return {
        table: {
          title: 'Ingest fleet: failover after kill -9 of the node carrying a stream, and streams per node',
          source: `wrangler dev + 2 transcoder nodes (libx264) behind HAProxy on loopback; 1280x720 30 fps H.264 3 Mbps + AAC source sent as is; failover channel tier ${FAILOVER_TIER}; publisher reconnects ${RETRY_DELAY_MS} ms after a drop${DUAL ? '; dual publish (front + backup address with ?backup=1), the standby goes on air' : ''}${RELAY ? '; relayed standby on the other node, kills alternating: the ffmpeg on air (kill -9), the node on air' : ''}; ${KILLS} kills; ${WINDOW_MS / 1000} s windows per streams-per-node step`,
          headers: ['measure', 'p50', 'max', 'n'],
          rows: [
            [
              'failover gap: no new part listed (s)',
              formatNumber(gap.p50, 2),
              formatNumber(gap.max, 2),
              String(gap.count),
            ],
            ...(stalls.length > 0
              ? [
                  [
                    'viewer: hls.js video stood still (s)',
                    formatNumber(stall.p50, 2),
                    formatNumber(stall.max, 2),
                    String(stall.count),
                  ],
                  [
                    'viewer: buffered ahead of the playhead at the kill (s)',
                    formatNumber(buffers.p50, 2),
                    formatNumber(buffers.max, 2),
                    String(buffers.count),
                  ],
                ]
              : []),
            ...relayRows,
            [
              DUAL || RELAY
                ? 'kill → the standby on air on the other node (s)'
                : 'kill → reconnect placed on the other node (s)',
              formatNumber(placed.p50, 2),
              formatNumber(placed.max, 2),
              String(placed.count),
            ],
            [
              'kill → first new part listed (s)',
              formatNumber(firstPart.p50, 2),
              formatNumber(firstPart.max, 2),
              String(firstPart.count),
            ],
            ...tiers.map(([tier, steps]): string[] => [
              `streams per node keeping up, tier ${tier} (ffmpeg speed / ${MEASURED[tier]} listed pace)`,
              String(kept(steps)),
              steps.map((s) => `${formatNumber(s.slowestFfmpeg, 2)}/${s.slowest.toFixed(2)}`).join(' '),
              String(STREAM_CAPS[tier]),
            ]),
          ],
          notes: [
            'gap: longest interval between new parts in the media playlist (polled every 100 ms) across the kill',
            `viewer: hls.js in headless Chromium, ${SAME_VIEWER ? 'one page playing through every kill' : `a page of its own per kill that had played ${VIEWER_SETTLE_SECONDS} s more and stopped catching up`}; the longest time its video clock stood still (sampled every 50 ms) from the kill until ${STEADY_PLAY_SECONDS} s played past the failover (goal: <= 1 s)`,
            'streams per node: the most streams on one node whose every ffmpeg ran >= 0.95x (its average since start) with no part dropped; "max" lists, per step, the slowest ffmpeg speed / the slowest listed pace at the origin; "n" the most tried',
            'the machine is shared with the rest of the platform (workerd, HAProxy, Node, ffmpeg) and other jobs',
          ],
        },
        result: {
          viewer: PAGE ? (SAME_VIEWER ? 'same_page_every_kill' : 'steady_page_per_kill') : null,
          failover: DUAL ? 'dual_publish_standby' : RELAY ? 'relayed_standby' : 'encoder_reconnect',
          retry_delay_ms: RETRY_DELAY_MS,
          tier: FAILOVER_TIER,
          kills,
          failover_gap_s: roundSummary(gap, 2),
          placed_s: roundSummary(placed, 2),
          first_part_s: roundSummary(firstPart, 2),
          ...(stalls.length > 0
            ? { viewer_stall_s: roundSummary(stall, 2), viewer_buffer_at_kill_s: roundSummary(buffers, 2) }
            : {}),
          streams_per_node: Object.fromEntries(
            tiers.map(([tier, steps]) => [tier, { kept_up: kept(steps), steps }]),
          ),
        },
      };
    } finally {
      await stopAllManaged();
      await platform.stop();
    }
  },
};

if (import.meta.main) await runBenchmark(fleetFailoverBench);
