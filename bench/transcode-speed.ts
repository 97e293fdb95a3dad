// Transcode speed per channel tier at a 720p30 source: the exact ffmpeg arguments the transcoder
// builds (planLadder + buildTranscodeArgs, libx264, thumbnails on) over a 20 s 1280x720 30 fps
// H.264/AAC FLV, read as fast as ffmpeg can (no `-re`), every output pipe read and discarded.
// ffmpeg's speed factor >= 1.0 means the tier keeps up with a live source on this host.
//   node bench/transcode-speed.ts
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { readConfig } from '../containers/transcoder/src/config.ts';
import { buildTranscodeArgs } from '../containers/transcoder/src/ffmpeg/args.ts';
import { type LadderPlan, planLadder, type SourceInfo } from '../containers/transcoder/src/ffmpeg/ladder.ts';
import type { ChannelTier } from '../protocol/ingest.ts';
import { type Benchmark, type BenchOutcome, QUICK, runBenchmark } from './lib/bench.ts';
import { RESULTS_DIR } from './lib/results.ts';
import { formatNumber } from './lib/stats.ts';

const SOURCE_SECONDS = 20;
const SOURCE_BITRATE = 3_000_000;
/** No case may take longer than this (a 20 s source at 0.1x); past it the figure is "< 0.1x". */
const CASE_TIMEOUT_MS = 200_000;

interface Case {
  label: string;
  tier: ChannelTier;
  /** null: the keyframe interval is unknown, so the transcoder re-encodes the source. */
  keyframeIntervalMs: number | null;
}

const CASES: Case[] = [
  { label: 'none (source passthrough + audio)', tier: 'none', keyframeIntervalMs: 2000 },
  { label: 'none, source re-encoded', tier: 'none', keyframeIntervalMs: null },
  { label: 'affiliate', tier: 'affiliate', keyframeIntervalMs: 2000 },
  { label: 'partner', tier: 'partner', keyframeIntervalMs: 2000 },
];

interface CaseResult {
  label: string;
  tier: ChannelTier;
  renditions: string[];
  dropped_for_load: string[];
  encodes: number;
  exit_code: number | null;
  timed_out: boolean;
  wall_seconds: number;
  media_seconds: number | null;
  /** ffmpeg's own last reported speed ("speed=1.23x"). */
  ffmpeg_speed: number | null;
  /** media seconds / wall seconds, measured here. */
  speed: number | null;
  /** ffmpeg's user + system CPU time. */
  cpu_seconds: number | null;
  /** CPU seconds per media second: how many cores this tier needs to run in real time. */
  cores_for_real_time: number | null;
  stderr_tail: string[];
}

function runFfmpeg(
  args: string[],
  stdio: Array<'ignore' | 'pipe'>,
): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn('ffmpeg', args, { stdio });
    let stderr = '';
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (text: string) => {
      stderr = (stderr + text).slice(-20_000);
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), CASE_TIMEOUT_MS);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    });
    // Every rendition and the thumbnail pipe must be read, or ffmpeg blocks on a full pipe.
    for (let fd = 3; fd < stdio.length; fd++) (child.stdio[fd] as Readable | null)?.resume();
  });
}

/** The 720p30 source, made once: OBS-like H.264 (2 s GOP, B-frames) + AAC in FLV. */
export async function ensureSource(): Promise<string> {
  const dir = join(RESULTS_DIR, 'cache');
  const file = join(dir, `source-1280x720p30-${SOURCE_SECONDS}s.flv`);
  if (existsSync(file)) return file;
  await mkdir(dir, { recursive: true });
  const partial = `${file}.partial`;
  const rate = `${SOURCE_BITRATE / 1000}k`;
  const { code, stderr } = await runFfmpeg(
    [
      ['-hide_banner', '-loglevel', 'error', '-y'],
      ['-f', 'lavfi', '-i', 'testsrc2=size=1280x720:rate=30'],
      ['-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000'],
      ['-t', String(SOURCE_SECONDS)],
      ['-c:v', 'libx264', '-preset', 'veryfast', '-pix_fmt', 'yuv420p', '-g', '60', '-keyint_min', '60'],
      ['-sc_threshold', '0', '-b:v', rate, '-maxrate', rate, '-bufsize', rate],
      ['-c:a', 'aac', '-b:a', '128k', '-ar', '48000', '-f', 'flv', partial],
    ].flat(),
    ['ignore', 'ignore', 'pipe'],
  );
  if (code !== 0) throw new Error(`could not make the 720p30 source: ${stderr.slice(-500)}`);
  await rename(partial, file);
  return file;
}

function readLastProgress(stderr: string): { speed: number | null; mediaSeconds: number | null } {
  const speeds = [...stderr.matchAll(/speed=\s*([\d.]+)x/g)];
  const times = [...stderr.matchAll(/time=(\d+):(\d+):([\d.]+)/g)];
  const speed = speeds.at(-1)?.[1];
  const time = times.at(-1);
  return {
    speed: speed === undefined ? null : Number(speed),
    mediaSeconds: time ? Number(time[1]) * 3600 + Number(time[2]) * 60 + Number(time[3]) : null,
  };
}

/** Clock ticks per second of /proc times (USER_HZ, 100 on Linux). */
const USER_HZ = 100;

/**
 * CPU seconds used by this process's children that have exited and been waited for (cutime +
 * cstime of /proc/self/stat): around one ffmpeg run, that run's own CPU time, which does not
 * depend on what else the machine is doing. null where /proc is missing.
 */
async function readChildCpuSeconds(): Promise<number | null> {
  try {
    const stat = await readFile('/proc/self/stat', 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // Fields 16 and 17 of proc(5); the slice starts at field 3.
    return (Number(fields[13]) + Number(fields[14])) / USER_HZ;
  } catch {
    return null;
  }
}

async function runCase(input: string, testCase: Case, maxEncodes: number): Promise<CaseResult> {
  const source: SourceInfo = {
    width: 1280,
    height: 720,
    fps: 30,
    videoCodec: 'avc',
    audioCodec: 'aac',
    keyframeIntervalMs: testCase.keyframeIntervalMs,
    videoBitrate: SOURCE_BITRATE,
  };
  const plan: LadderPlan = planLadder({
    tier: testCase.tier,
    source,
    capacity: { activeEncodes: 0, maxEncodes },
  });
  const { args, outputs } = buildTranscodeArgs(plan, {
    input,
    inputFormat: 'flv',
    encoder: 'libx264',
    thumbnails: true,
  });
  const stdio: Array<'ignore' | 'pipe'> = ['ignore', 'ignore', 'pipe', ...outputs.map(() => 'pipe' as const)];
  const cpuBefore = await readChildCpuSeconds();
  const started = performance.now();
  const { code, stderr } = await runFfmpeg(QUICK ? ['-t', '4', ...args] : args, stdio);
  const wallSeconds = (performance.now() - started) / 1000;
  const cpuAfter = await readChildCpuSeconds();
  const cpuSeconds = cpuBefore === null || cpuAfter === null ? null : cpuAfter - cpuBefore;
  const progress = readLastProgress(stderr);
  return {
    label: testCase.label,
    tier: testCase.tier,
    renditions: plan.renditions.map((r) => (r.kind === 'video' ? `${r.name}:${r.videoMode}` : r.name)),
    dropped_for_load: plan.droppedForLoad,
    encodes: plan.encodes,
    exit_code: code,
    timed_out: wallSeconds * 1000 >= CASE_TIMEOUT_MS,
    wall_seconds: Math.round(wallSeconds * 100) / 100,
    media_seconds: progress.mediaSeconds,
    ffmpeg_speed: progress.speed,
    speed:
      progress.mediaSeconds === null ? null : Math.round((progress.mediaSeconds / wallSeconds) * 100) / 100,
    cpu_seconds: cpuSeconds === null ? null : Math.round(cpuSeconds * 100) / 100,
    cores_for_real_time:
      cpuSeconds === null || progress.mediaSeconds === null || progress.mediaSeconds === 0
        ? null
        : Math.round((cpuSeconds / progress.mediaSeconds) * 100) / 100,
    stderr_tail: code === 0 ? [] : stderr.trim().split('\n').slice(-5),
  };
}

async function measure(): Promise<BenchOutcome> {
  const input = await ensureSource();
  // The same capacity rule the transcoder applies on this host (MAX_ENCODES or 2 per core).
  const { maxEncodes } = readConfig(
    { ...process.env, ORIGIN_URL: 'http://127.0.0.1:1', INGEST_SECRET: 'benchmark-only' },
    availableParallelism(),
  );
  const results: CaseResult[] = [];
  for (const testCase of CASES) results.push(await runCase(input, testCase, maxEncodes));
  return {
    table: {
      title:
        "transcode speed per tier at a 720p30 source (libx264, the transcoder's exact arguments, no -re)",
      source: `source 1280x720 30 fps H.264 ${SOURCE_BITRATE / 1e6} Mbps 2 s GOP + AAC, ${QUICK ? 4 : SOURCE_SECONDS} s FLV file; capacity ${maxEncodes} encodes (MAX_ENCODES or 2 per core)`,
      headers: [
        'tier',
        'renditions',
        'encodes',
        'speed (x)',
        'ffmpeg speed',
        'wall (s)',
        'cores/stream',
        'real time?',
      ],
      rows: results.map((r) => [
        r.label,
        r.renditions.join(' ').replaceAll(':encode', '').replaceAll(':copy', '(copy)'),
        String(r.encodes),
        formatNumber(r.speed, 2),
        formatNumber(r.ffmpeg_speed, 2),
        formatNumber(r.wall_seconds, 1),
        formatNumber(r.cores_for_real_time, 2),
        r.exit_code !== 0 ? `failed (${r.exit_code})` : r.speed !== null && r.speed >= 1 ? 'yes' : 'no',
      ]),
      notes: [
        'speed = media seconds / wall seconds; >= 1.0 keeps up with a live source (thumbnails every 10 s included)',
        'cores/stream = ffmpeg CPU seconds / media seconds: cores one live stream of the tier keeps busy (load-independent)',
        ...results
          .filter((r) => r.dropped_for_load.length > 0)
          .map((r) => `${r.label}: dropped for load on this host: ${r.dropped_for_load.join(', ')}`),
      ],
    },
    result: { max_encodes: maxEncodes, source_seconds: QUICK ? 4 : SOURCE_SECONDS, cases: results },
  };
}

export const transcodeSpeedBench: Benchmark = { name: 'transcode-speed', run: measure };

if (import.meta.main) await runBenchmark(transcodeSpeedBench);
