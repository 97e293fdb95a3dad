// In-node hot standby (issue 11, docs/deploy.md "Hot standby"): the failover gap when the active
// ffmpeg of a partner stream is SIGKILLed, with and without a standby, and the CPU a standby costs.
// The real pipeline (two real ffmpegs, packagers, gates, uploaders) publishing to an origin stand-in
// on loopback that records when each part arrives; the source is a 640x360 30 fps H.264 (2 s GOP) +
// AAC file fed in real time through a publish session (no RTMP socket, no encoder CPU).
//   Per round: a fresh publish, a kill of the active ffmpeg once 15 standby parts matched the active's
//   (first kill: identical standby), and, with a standby, a second kill 6 s later (the restarted
//   standby: not identical). Gap = time between the last part uploaded before the kill and the
//   first after it (source rendition); media lost = the media time skipped across it.
//   CPU: utime+stime of the active and the standby ffmpeg over 8 s, in cores.
// Run by bench/standby-failover.ts in a child process (the benchmarks compile with the DOM
// library, the transcoder with Node's): `node scripts/standby-failover-rounds.ts OUT.json [--rounds N]`
// writes the measured rounds as JSON.
import { readFileSync, writeFileSync } from 'node:fs';
import { type PipelineDeps, StreamPipeline } from '../containers/transcoder/src/pipeline.ts';
import { type FlvTag, parseFlvTags } from '../containers/transcoder/src/rtmp/flv.ts';
import { IngestClient } from '../containers/transcoder/src/upload/ingest-client.ts';
import { type AuthorizeResponse, INGEST_META_HEADER, IngestMeta } from '../protocol/ingest.ts';
import { makeFlvSource } from '../test/node/ffmpeg/media-fixtures.ts';
import { feedInRealTime, openPublish } from '../test/node/pipeline/live-publish.ts';
import { type FakeOrigin, startFakeOrigin } from '../test/node/upload/fake-origin.ts';

const ROUNDS_ARG = process.argv.indexOf('--rounds');
const ROUNDS = ROUNDS_ARG > 0 ? Number(process.argv[ROUNDS_ARG + 1]) : 10;
const OUT = process.argv[2];
const SOURCE = { width: 640, height: 360, fps: 30 };
const CPU_WINDOW_MS = 8_000;
/** Linux's USER_HZ: /proc/<pid>/stat counts CPU time in these ticks. */
const CLOCK_TICKS = 100;

interface PartArrival {
  msn: number;
  part: number;
  pdt: number;
  duration: number;
  at: number;
}

interface KillOutcome {
  gapMs: number;
  mediaLostMs: number;
  discontinuity: boolean;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function waitUntil(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

function readCpuSeconds(pid: number): number | null {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
    // After "pid (comm) ": state is field 0, utime 11, stime 12.
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return null;
  }
}

function sourceParts(origin: FakeOrigin): { parts: PartArrival[]; inits: number[] } {
  const parts: PartArrival[] = [];
  const inits: number[] = [];
  for (const request of origin.requests) {
    if (!request.path.endsWith('/source') && !request.path.includes('/source/')) continue;
    const meta = IngestMeta.parse(JSON.parse(String(request.headers[INGEST_META_HEADER])));
    if (meta.rendition !== 'source') continue;
    if (meta.kind === 'init') inits.push(request.receivedAt);
    if (meta.kind === 'part') {
      parts.push({
        msn: meta.msn,
        part: meta.part,
        pdt: meta.pdt,
        duration: meta.duration,
        at: request.receivedAt,
      });
    }
  }
  return { parts, inits };
}

function measureKill(origin: FakeOrigin, killedAt: number): KillOutcome {
  const { parts, inits } = sourceParts(origin);
  const after = parts.findIndex((part) => part.at >= killedAt);
  const before = parts[after - 1];
  const first = parts[after];
  if (after <= 0 || before === undefined || first === undefined) throw new Error('no part around the kill');
  return {
    gapMs: first.at - before.at,
    mediaLostMs: Math.max(0, first.pdt - (before.pdt + before.duration * 1000)),
    discontinuity: inits.some((at) => at >= killedAt),
  };
}

const GRANT: AuthorizeResponse = {
  channel_id: 'bench-channel',
  stream_id: 'bench-stream',
  publish_id: 'bench-publish',
  tier: 'partner',
  continued: false,
  next_msn: 0,
};

async function runRound(
  tags: FlvTag[],
  standby: boolean,
  measureCpu: boolean,
): Promise<{ kills: KillOutcome[]; cpu: { active: number; standby: number } | null }> {
  const origin = await startFakeOrigin();
  const publish = openPublish({ ...GRANT, publish_id: `bench-${crypto.randomUUID()}` });
  let encodes = 0;
  const deps: PipelineDeps = {
    client: new IngestClient({ baseUrl: origin.baseUrl, secret: 'bench-secret' }),
    encoder: 'libx264',
    capacity: {
      snapshot: () => ({ activeEncodes: encodes, maxEncodes: 16 }),
      add: (count) => {
        encodes += count;
      },
    },
    log: (event) => {
      if (event.event === 'pipeline.standby_promoted' || event.event === 'pipeline.standby_restarting')
        console.log(JSON.stringify(event));
    },
    hotStandbyTiers: standby ? ['partner'] : [],
  };
  const pipeline = new StreamPipeline(publish.handle.session, deps);
  pipeline.start();
  const feeder = feedInRealTime(publish, tags);
  const kills: KillOutcome[] = [];
  let cpu: { active: number; standby: number } | null = null;
  try {
    await waitUntil(() => sourceParts(origin).parts.length >= 15, 20_000, 'the first parts');
    if (standby) {
      await waitUntil(
        () => (pipeline.stats().standby?.gates.source?.compared ?? 0) >= 15,
        15_000,
        'the standby to match',
      );
    }
    if (measureCpu) {
      const activePid = pipeline.ffmpegPid ?? 0;
      const standbyPid = pipeline.standbyPid;
      const started = [readCpuSeconds(activePid), standbyPid === null ? null : readCpuSeconds(standbyPid)];
      await sleep(CPU_WINDOW_MS);
      const ended = [readCpuSeconds(activePid), standbyPid === null ? null : readCpuSeconds(standbyPid)];
      const cores = (index: number) =>
        (ended[index] ?? 0) - (started[index] ?? 0) < 0
          ? 0
          : ((ended[index] ?? 0) - (started[index] ?? 0)) / (CPU_WINDOW_MS / 1000);
      cpu = { active: cores(0), standby: standbyPid === null ? 0 : cores(1) };
    }
    for (let kill = 0; kill < (standby ? 2 : 1); kill++) {
      if (kill > 0) {
        // The restarted standby needs a keyframe and a few parts before it can take over.
        await waitUntil(() => pipeline.stats().standby?.running === true, 10_000, 'a new standby');
        await sleep(6_000);
      }
      const killedAt = Date.now();
      process.kill(pipeline.ffmpegPid ?? 0, 'SIGKILL');
      const partsAtKill = sourceParts(origin).parts.length;
      await waitUntil(
        () => sourceParts(origin).parts.length >= partsAtKill + 10,
        15_000,
        'parts after the kill',
      );
      kills.push(measureKill(origin, killedAt));
    }
  } finally {
    feeder.stop();
    await pipeline.close('publisher_closed');
    await origin.close();
  }
  return { kills, cpu };
}

export type RoundsResult = Awaited<ReturnType<typeof measure>>;

async function measure() {
  const tags = parseFlvTags(await makeFlvSource({ seconds: 40, ...SOURCE, videoBitrate: '1200k' }));
  const results: Record<
    'standby' | 'none',
    { kills: KillOutcome[]; cpu: { active: number; standby: number } | null }
  > = { standby: { kills: [], cpu: null }, none: { kills: [], cpu: null } };
  for (const mode of ['standby', 'none'] as const) {
    for (let round = 0; round < ROUNDS; round++) {
      const outcome = await runRound(tags, mode === 'standby', round === 0);
      results[mode].kills.push(...outcome.kills);
      results[mode].cpu ??= outcome.cpu;
      console.log(`${mode} round ${round + 1}/${ROUNDS}: ${JSON.stringify(outcome.kills)}`);
    }
  }
  return { source: SOURCE, rounds: ROUNDS, results };
}

const measured = await measure();
if (OUT !== undefined) writeFileSync(OUT, JSON.stringify(measured));
