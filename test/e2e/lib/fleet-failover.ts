// Failover of a live stream across the local ingest fleet, shared by the fleet's end-to-end test and
// its benchmark (bench/fleet-failover.ts): an OBS-like publisher that reconnects on its own, the
// death of the node carrying a stream (its whole process group, SIGKILL: the machine is gone), and
// the gap a viewer sees, measured twice: from the origin's playlist (when a new part is listed) and
// in the page (when hls.js loads a part, and when the video's clock stands still).
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { z } from 'zod';
import { type LocalFleet, startLocalFleet } from '../../../scripts/lib/fleet.ts';
import { findFreePort, findFreePortBlock, waitFor } from '../../../scripts/lib/platform.ts';
import { openPlayer, type PlayerSample, samplePlayer } from './player.ts';
import type { Publisher } from './publisher.ts';

export const FleetSnapshot = z.object({
  nodes: z.array(z.object({ nodeId: z.string(), state: z.string() })),
  placements: z.array(
    z.object({
      nodeId: z.string(),
      state: z.string(),
      channelId: z.string(),
      publishId: z.string().nullable(),
    }),
  ),
});
export type FleetSnapshot = z.infer<typeof FleetSnapshot>;

export async function readFleet(baseUrl: string, ingestSecret: string): Promise<FleetSnapshot> {
  const res = await fetch(`${baseUrl}/internal/fleet/nodes`, {
    headers: { Authorization: `Bearer ${ingestSecret}` },
  });
  return FleetSnapshot.parse(await res.json());
}

/** The node holding the channel's live placement, or undefined. */
export function findHolder(snapshot: FleetSnapshot, channelId: string): string | undefined {
  return snapshot.placements.find(
    (p) => p.channelId === channelId && p.state === 'placed' && p.publishId !== null,
  )?.nodeId;
}

export interface ReconnectingPublisher {
  /** Epoch ms of every ffmpeg start: the first publish, then each reconnect attempt. */
  readonly starts: number[];
  stderr(): string;
  stop(): Promise<void>;
}

/**
 * OBS's "Automatically reconnect": when the connection drops (or a publish attempt is refused), a
 * new attempt `retryDelayMs` later, to the same address (the front), at most `maxAttempts` in all.
 * `spawn` starts one attempt (publishTestPattern, or a file sent as is).
 */
export function startReconnectingPublisher(
  spawn: () => Publisher,
  options: { retryDelayMs: number; maxAttempts?: number },
): ReconnectingPublisher {
  const starts: number[] = [];
  const maxAttempts = options.maxAttempts ?? 100;
  let current: Publisher | undefined;
  let stopped = false;
  let log = '';
  let timer: NodeJS.Timeout | undefined;
  const launch = () => {
    if (stopped || starts.length >= maxAttempts) return;
    starts.push(Date.now());
    const publisher = spawn();
    current = publisher;
    void publisher.exited.then(() => {
      log = `${log}${publisher.stderr.join('')}`.slice(-20_000);
      if (!stopped) timer = setTimeout(launch, options.retryDelayMs);
    });
  };
  launch();
  return {
    starts,
    stderr: () => `${log}${current?.stderr.join('') ?? ''}`,
    stop: async () => {
      stopped = true;
      clearTimeout(timer);
      await current?.stop('SIGKILL');
    },
  };
}

/** Kills the node holding the channel's stream and every process of it (its ffmpegs too). */
export async function killHoldingNode(
  fleet: LocalFleet,
  snapshot: FleetSnapshot,
  channelId: string,
): Promise<{ nodeId: string; killedAt: number }> {
  const nodeId = findHolder(snapshot, channelId);
  if (nodeId === undefined) throw new Error(`no live node holds ${channelId}`);
  return { nodeId, killedAt: await killNode(fleet, nodeId) };
}

const NodeStats = z.object({
  streams: z.array(
    z.object({
      channelId: z.string(),
      waitingOnStandby: z.boolean(),
      ffmpegPid: z.number().nullable().optional(),
    }),
  ),
});

/**
 * Where a dual publish's two pipelines run (each node's `/stats`): the node whose pipeline is on air
 * and the one whose pipeline waits as its standby; undefined where none (yet).
 */
export async function findDualPublish(
  fleet: LocalFleet,
  channelId: string,
): Promise<{ onAir: string | undefined; standby: string | undefined }> {
  const found: { onAir: string | undefined; standby: string | undefined } = {
    onAir: undefined,
    standby: undefined,
  };
  for (const node of fleet.nodes) {
    if (node.process.child.exitCode !== null || node.process.child.signalCode !== null) continue;
    const res = await fetch(`http://127.0.0.1:${node.httpPort}/stats`).catch(() => null);
    if (!res?.ok) continue;
    const stream = NodeStats.parse(await res.json()).streams.find((s) => s.channelId === channelId);
    if (stream === undefined) continue;
    if (stream.waitingOnStandby) found.standby = node.nodeId;
    else found.onAir = node.nodeId;
  }
  return found;
}

/** Waits (at most `timeoutMs`) until the dual publish is on air on one node and waits on another. */
export async function waitForDualPublish(
  fleet: LocalFleet,
  channelId: string,
  timeoutMs: number,
): Promise<{ onAir: string; standby: string }> {
  return waitFor(
    'the dual publish on air on one node and waiting on the other',
    async () => {
      const found = await findDualPublish(fleet, channelId);
      return found.onAir !== undefined && found.standby !== undefined && found.onAir !== found.standby
        ? { onAir: found.onAir, standby: found.standby }
        : undefined;
    },
    timeoutMs,
    200,
  );
}

/** Kills a node and every process of it (its ffmpegs too): the machine is gone. */
export async function killNode(fleet: LocalFleet, nodeId: string): Promise<number> {
  const node = fleet.nodes.find((candidate) => candidate.nodeId === nodeId);
  const pid = node?.process.child.pid;
  if (pid === undefined) throw new Error(`no live node ${nodeId}`);
  const killedAt = Date.now();
  process.kill(-pid, 'SIGKILL');
  await node?.process.exited;
  return killedAt;
}

/** SIGKILLs the active ffmpeg of the channel's stream on a node (its `/stats`); returns when (epoch ms). */
export async function killActiveFfmpeg(
  fleet: LocalFleet,
  nodeId: string,
  channelId: string,
): Promise<number> {
  const node = fleet.nodes.find((candidate) => candidate.nodeId === nodeId);
  if (node === undefined) throw new Error(`no node ${nodeId}`);
  const res = await fetch(`http://127.0.0.1:${node.httpPort}/stats`);
  const stream = NodeStats.parse(await res.json()).streams.find((s) => s.channelId === channelId);
  const pid = stream?.ffmpegPid;
  if (pid === undefined || pid === null) throw new Error(`no ffmpeg for ${channelId} on ${nodeId}`);
  const killedAt = Date.now();
  process.kill(pid, 'SIGKILL');
  return killedAt;
}

/**
 * Two nodes behind HAProxy with room for one stream each (FLEET_MAX_STREAMS 1), so a stream's
 * standby must sit on the other node and an encoder's reconnect finds no room: whatever carries the
 * stream on after a kill is the standby. Used by the dual-publish and relayed-standby e2e tests.
 */
export async function startOneStreamFleet(
  origin: { baseUrl: string; ingestSecret: string },
  options: { name: string; env?: NodeJS.ProcessEnv },
): Promise<{ fleet: LocalFleet; frontRtmp: number; backupRtmp: number }> {
  const frontRtmp = await findFreePort();
  const backupRtmp = await findFreePort();
  const base = await findFreePortBlock(30);
  const fleet = await startLocalFleet({
    nodes: 2,
    front: { rtmp: frontRtmp, rtmps: await findFreePort(), backupRtmp },
    originUrl: origin.baseUrl,
    ingestSecret: origin.ingestSecret,
    stateDir: mkdtempSync(join(tmpdir(), `edgestream-e2e-${options.name}-`)),
    env: { TRANSCODER_ENCODER: 'x264', FLEET_MAX_STREAMS: '1', DRAIN_DEADLINE_SECONDS: '1', ...options.env },
    basePorts: { rtmp: base, rtmps: base + 10, http: base + 20 },
  });
  return { fleet, frontRtmp, backupRtmp };
}

export interface PartWatch {
  /** Epoch ms at which each new last part was first seen in the playlist. */
  readonly arrivals: number[];
  /** The playlist text last read. */
  last(): string;
  stop(): void;
}

/** Polls a media playlist every `intervalMs` and notes when its last part changes. */
export function watchPartArrivals(mediaUrl: string, intervalMs = 100): PartWatch {
  const arrivals: number[] = [];
  let lastPart = '';
  let text = '';
  let stopped = false;
  void (async () => {
    while (!stopped) {
      const res = await fetch(mediaUrl).catch(() => null);
      if (res?.ok) {
        text = await res.text();
        const part = text.split('\n').findLast((line) => line.startsWith('#EXT-X-PART:')) ?? '';
        if (part !== '' && part !== lastPart) {
          lastPart = part;
          arrivals.push(Date.now());
        }
      } else {
        await res?.body?.cancel();
      }
      await new Promise((resolve) => setTimeout(resolve, intervalMs));
    }
  })();
  return {
    arrivals,
    last: () => text,
    stop: () => {
      stopped = true;
    },
  };
}

/**
 * The longest span between consecutive events that ends after `from` and starts before `to`: the
 * gap a kill at `from` caused, up to `to` (when the stream ran steadily again).
 */
export function longestGap(times: readonly number[], from: number, to: number): number | null {
  let longest: number | null = null;
  for (let i = 1; i < times.length; i++) {
    const before = times[i - 1] ?? 0;
    const after = times[i] ?? 0;
    if (after <= from || before >= to) continue;
    longest = Math.max(longest ?? 0, after - before);
  }
  return longest;
}

/**
 * Starts recording, in the page of openPlayer (test/e2e/lib/player.ts), when hls.js loads a part or
 * segment and when the video's clock moves forward (sampled every 50 ms).
 */
export async function instrumentPlayer(page: Page): Promise<void> {
  await page.evaluate(() => {
    const w = window as unknown as {
      hls: { on(event: string, cb: () => void): void };
      gapMeter: { loads: number[]; progress: number[] };
    };
    const meter = { loads: [] as number[], progress: [] as number[] };
    w.gapMeter = meter;
    w.hls.on('hlsFragLoaded', () => meter.loads.push(Date.now()));
    const video = document.getElementById('v') as HTMLVideoElement;
    let lastTime = video.currentTime;
    setInterval(() => {
      if (video.currentTime > lastTime + 0.01) meter.progress.push(Date.now());
      lastTime = video.currentTime;
    }, 50);
  });
}

/**
 * A player page (openPlayer) on `manifestUrl` that has played `seconds` of video (within 45 s), with
 * its gap meter (instrumentPlayer) running from then on.
 */
export async function openMeteredPlayer(
  context: BrowserContext,
  originUrl: string,
  manifestUrl: string,
  seconds: number,
): Promise<Page> {
  const page = await openPlayer(context, originUrl, manifestUrl);
  await waitFor(
    `the player to play ${seconds} s`,
    async () => ((await samplePlayer(page)).currentTime >= seconds ? true : undefined),
    45_000,
    200,
  );
  await instrumentPlayer(page);
  return page;
}

/**
 * Waits (at most `timeoutMs`) until the page has played `seconds` more and hls.js is not catching up
 * (playback rate 1): where a viewer who has watched for a while sits. hls.js plays faster only while
 * more than 1 s is buffered, so such a viewer settles ~1 s behind the live edge with about that much
 * buffered (docs/benchmarks.md, `live-latency`); one that has just joined, or just rode out a
 * failover, sits elsewhere. Returns the sample it stopped on and whether it was steady then.
 */
export async function waitForSteadyPlayer(
  page: Page,
  seconds: number,
  timeoutMs: number,
): Promise<{ sample: PlayerSample; steady: boolean }> {
  const deadline = Date.now() + timeoutMs;
  const from = (await samplePlayer(page)).currentTime;
  for (;;) {
    const sample = await samplePlayer(page);
    const steady = sample.currentTime >= from + seconds && sample.playbackRate === 1;
    if (steady || Date.now() >= deadline) return { sample, steady };
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

export async function readPlayerMeter(page: Page): Promise<{ loads: number[]; progress: number[] }> {
  return page.evaluate(
    () => (window as unknown as { gapMeter: { loads: number[]; progress: number[] } }).gapMeter,
  );
}
