import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AUDIO_PART_TARGET_SECONDS,
  CmafPackager,
  computeVideoPartTarget,
  type InitEvent,
  type PackagerEvent,
  type PartEvent,
  type SegmentEvent,
  VIDEO_PART_TARGET_SECONDS,
} from '../../../containers/transcoder/src/cmaf/packager.ts';
import { buildTranscodeArgs } from '../../../containers/transcoder/src/ffmpeg/args.ts';
import { planLadder } from '../../../containers/transcoder/src/ffmpeg/ladder.ts';
import { makeFlvSource, runMediaTool, splitRandomly } from '../ffmpeg/media-fixtures.ts';

const FIRST_MSN = 7;
const WALL_CLOCK_ZERO = 1_700_000_000_000;

interface Packaged {
  init: InitEvent[];
  parts: PartEvent[];
  segments: SegmentEvent[];
  order: PackagerEvent['kind'][];
  partTarget: number | null;
  nextMsn: number;
}

function packageBytes(bytes: Buffer, seed: number): Packaged {
  const packager = new CmafPackager({ firstMsn: FIRST_MSN, wallClockAtTimeZero: WALL_CLOCK_ZERO });
  const events = [
    ...splitRandomly(bytes, seed, 8000).flatMap((chunk) => packager.push(chunk)),
    ...packager.flush(),
  ];
  return {
    init: events.filter((event): event is InitEvent => event.kind === 'init'),
    parts: events.filter((event): event is PartEvent => event.kind === 'part'),
    segments: events.filter((event): event is SegmentEvent => event.kind === 'segment'),
    order: events.map((event) => event.kind),
    partTarget: packager.partTarget,
    nextMsn: packager.nextMsn,
  };
}

/** Asserts the LL-HLS part rules: DURATION <= PART-TARGET, >= 85 % unless independent or last. */
function expectPartRules(packaged: Packaged, partTarget: number): void {
  for (const segment of packaged.segments) {
    const parts = packaged.parts.filter((part) => part.msn === segment.msn);
    expect(parts.map((part) => part.part)).toEqual(parts.map((_, index) => index));
    parts.forEach((part, index) => {
      expect(part.duration).toBeLessThanOrEqual(partTarget + 1e-6);
      const exempt = part.independent && index === 0 ? true : index === parts.length - 1;
      if (!exempt) expect(part.duration).toBeGreaterThanOrEqual(0.85 * partTarget);
    });
    // A segment's bytes are exactly its parts, so a player may fetch either.
    expect(segment.bytes.equals(Buffer.concat(parts.map((part) => part.bytes)))).toBe(true);
    expect(segment.parts).toBe(parts.length);
    expect(segment.duration).toBeCloseTo(
      parts.reduce((sum, part) => sum + part.duration, 0),
      6,
    );
    expect(segment.pdt).toBe(parts[0]?.pdt);
  }
  const msns = packaged.segments.map((segment) => segment.msn);
  expect(msns).toEqual(msns.map((_, index) => FIRST_MSN + index));
  expect(packaged.nextMsn).toBe(FIRST_MSN + msns.length);
  // Wall clock of each part follows from the previous one and its duration.
  for (let index = 1; index < packaged.parts.length; index += 1) {
    const previous = packaged.parts[index - 1];
    const current = packaged.parts[index];
    if (previous === undefined || current === undefined) continue;
    expect(current.pdt - previous.pdt).toBeCloseTo(previous.duration * 1000, 0);
  }
}

async function countDecodedFrames(
  directory: string,
  name: string,
  bytes: Buffer,
  stream: string,
): Promise<number> {
  const path = join(directory, name);
  await writeFile(path, bytes);
  const probe = await runMediaTool('ffprobe', [
    '-v',
    'error',
    '-count_frames',
    '-select_streams',
    stream,
    '-show_entries',
    'stream=nb_read_frames',
    '-of',
    'csv=p=0',
    path,
  ]);
  expect(probe.code).toBe(0);
  return Number.parseInt(probe.stdout.toString().trim(), 10);
}

describe('CMAF packager on real ffmpeg output from the transcode arguments', () => {
  let outputs: Map<string, Buffer>;
  let directory: string;

  beforeAll(async () => {
    directory = await mkdtemp(join(tmpdir(), 'packager-test-'));
    const flv = await makeFlvSource({ seconds: 6 });
    // A 5 s broadcaster GOP forces a re-encoded source, so every output below comes from libx264.
    const plan = planLadder({
      tier: 'partner',
      source: {
        width: 320,
        height: 180,
        fps: 30,
        videoCodec: 'avc',
        audioCodec: 'aac',
        keyframeIntervalMs: 5000,
      },
      capacity: { activeEncodes: 0, maxEncodes: 8 },
    });
    const { args, outputs: fds } = buildTranscodeArgs(plan, {
      input: 'pipe:0',
      inputFormat: 'flv',
      encoder: 'libx264',
      thumbnails: false,
    });
    const result = await runMediaTool('ffmpeg', args, {
      stdin: flv,
      extraFds: fds.map((output) => output.fd),
    });
    expect(result.code, result.stderr).toBe(0);
    outputs = new Map(
      fds.map((output) => [output.rendition, result.pipes.get(output.fd) ?? Buffer.alloc(0)]),
    );
    expect([...outputs.keys()]).toEqual(['source', '160p30', 'audio']);
  });

  afterAll(async () => {
    await rm(directory, { recursive: true, force: true });
  });

  it('emits an init with the codecs and size, then 200 ms parts grouped into 2 s segments', () => {
    const packaged = packageBytes(outputs.get('source') ?? Buffer.alloc(0), 11);
    expect(packaged.order[0]).toBe('init');
    expect(packaged.init).toHaveLength(1);
    const [init] = packaged.init;
    expect(init?.codecs).toMatch(/^avc1\.64[0-9a-f]{4},mp4a\.40\.2$/);
    expect(init?.width).toBe(320);
    expect(init?.height).toBe(180);
    expect(init?.hasVideo).toBe(true);
    expect(init?.hasAudio).toBe(true);
    expect(init?.discontinuity).toBe(false);
    expect(packaged.partTarget).toBe(VIDEO_PART_TARGET_SECONDS);
    expectPartRules(packaged, VIDEO_PART_TARGET_SECONDS);

    // 6 s of input: three full segments, then whatever frame the encoder flushes at the end.
    const full = packaged.segments.slice(0, 3);
    expect(packaged.segments.length).toBeLessThanOrEqual(4);
    expect(packaged.segments.at(-1)?.duration ?? 0).toBeLessThanOrEqual(2 + 1e-9);
    for (const segment of full) {
      expect(segment.duration).toBeCloseTo(2, 2);
      expect(segment.parts).toBe(10);
      const first = packaged.parts.find((part) => part.msn === segment.msn && part.part === 0);
      expect(first?.independent).toBe(true);
    }
    // Only segment starts are keyframes: the GOP is fixed at 2 s.
    expect(packaged.parts.filter((part) => part.independent)).toHaveLength(packaged.segments.length);
    expect(packaged.parts[0]?.pdt).toBe(WALL_CLOCK_ZERO);
    expect(packaged.segments[1]?.pdt).toBeCloseTo(WALL_CLOCK_ZERO + 2000, 0);
  });

  it('keeps lower rungs on the same segment boundaries as the source', () => {
    const source = packageBytes(outputs.get('source') ?? Buffer.alloc(0), 5);
    const low = packageBytes(outputs.get('160p30') ?? Buffer.alloc(0), 6);
    expect(low.init[0]?.height).toBe(160);
    expect(low.init[0]?.width).toBe(284);
    expectPartRules(low, VIDEO_PART_TARGET_SECONDS);
    expect(low.segments.map((segment) => [segment.msn, segment.parts, segment.pdt])).toEqual(
      source.segments.map((segment) => [segment.msn, segment.parts, segment.pdt]),
    );
  });

  it('produces segments that decode after the init segment', async () => {
    const packaged = packageBytes(outputs.get('source') ?? Buffer.alloc(0), 3);
    const init = packaged.init[0]?.bytes ?? Buffer.alloc(0);
    const second = packaged.segments[1];
    if (second === undefined) throw new Error('no second segment');
    const frames = await countDecodedFrames(
      directory,
      'segment.mp4',
      Buffer.concat([init, second.bytes]),
      'v:0',
    );
    expect(frames).toBe(60);
    const everything = Buffer.concat([init, ...packaged.segments.map((segment) => segment.bytes)]);
    const totalSeconds = packaged.segments.reduce((sum, segment) => sum + segment.duration, 0);
    expect(totalSeconds).toBeGreaterThanOrEqual(6);
    expect(await countDecodedFrames(directory, 'all.mp4', everything, 'v:0')).toBe(
      Math.round(totalSeconds * 30),
    );
  });

  it('packages the audio-only rendition into 213 ms parts and segments of at most 2.49 s', async () => {
    const packaged = packageBytes(outputs.get('audio') ?? Buffer.alloc(0), 17);
    const init = packaged.init[0];
    expect(init?.codecs).toBe('mp4a.40.2');
    expect(init?.hasVideo).toBe(false);
    expect(init?.width).toBeUndefined();
    expect(packaged.partTarget).toBeCloseTo(AUDIO_PART_TARGET_SECONDS, 9);
    expectPartRules(packaged, AUDIO_PART_TARGET_SECONDS);
    expect(packaged.parts.every((part) => part.independent)).toBe(true);
    const full = packaged.parts.slice(0, -1);
    for (const part of full) expect(part.duration).toBeCloseTo(AUDIO_PART_TARGET_SECONDS, 3);
    for (const segment of packaged.segments) {
      expect(segment.duration).toBeLessThanOrEqual(2.49);
      expect(Math.round(segment.duration)).toBeLessThanOrEqual(2);
    }
    expect(packaged.segments.slice(0, -1).every((segment) => segment.duration >= 1.9)).toBe(true);
    const frames = await countDecodedFrames(
      directory,
      'audio.mp4',
      Buffer.concat([init?.bytes ?? Buffer.alloc(0), packaged.segments[0]?.bytes ?? Buffer.alloc(0)]),
      'a:0',
    );
    expect(frames).toBe(packaged.parts.filter((part) => part.msn === FIRST_MSN).length * 10);
  });

  it('continues the msn across an encoder restart and marks the new init as a discontinuity', () => {
    const bytes = outputs.get('source') ?? Buffer.alloc(0);
    const packager = new CmafPackager({ firstMsn: FIRST_MSN, wallClockAtTimeZero: WALL_CLOCK_ZERO });
    // The first run dies in the middle of its second GOP.
    const firstRun = packager.push(bytes.subarray(0, Math.floor(bytes.length / 2)));
    const flushed = packager.reset(WALL_CLOCK_ZERO + 10_000);
    const secondRun = [...packager.push(bytes), ...packager.flush()];

    const firstSegments = [...firstRun, ...flushed].filter((event) => event.kind === 'segment');
    expect(firstSegments.map((segment) => segment.msn)).toEqual([FIRST_MSN, FIRST_MSN + 1]);
    const restartedInit = secondRun[0];
    expect(restartedInit?.kind).toBe('init');
    expect(restartedInit?.kind === 'init' && restartedInit.discontinuity).toBe(true);
    const secondSegments = secondRun.filter((event): event is SegmentEvent => event.kind === 'segment');
    expect(secondSegments.length).toBeGreaterThanOrEqual(3);
    expect(secondSegments.map((segment) => segment.msn)).toEqual(
      secondSegments.map((_, index) => FIRST_MSN + 2 + index),
    );
    expect(secondSegments[0]?.pdt).toBe(WALL_CLOCK_ZERO + 10_000);
    expect(packager.partTarget).toBe(VIDEO_PART_TARGET_SECONDS);
  });

  it('announces a PART-TARGET of whole frames for frame rates 200 ms does not divide', () => {
    expect(computeVideoPartTarget(30)).toBe(0.2);
    expect(computeVideoPartTarget(60)).toBe(0.2);
    expect(computeVideoPartTarget(25)).toBe(0.2);
    expect(computeVideoPartTarget(24)).toBeCloseTo(5 / 24, 9);
    expect(computeVideoPartTarget(30_000 / 1001)).toBeCloseTo(6 / (30_000 / 1001), 9);
  });
});

describe('CMAF packager over a minute of one encoder run', () => {
  it('keeps the audio-only msn level with the video over 60+ s: segments on the same 2 s media-time grid', async () => {
    const flv = await makeFlvSource({ seconds: 64, width: 192, height: 108 });
    const plan = planLadder({
      tier: 'none',
      source: {
        width: 192,
        height: 108,
        fps: 30,
        videoCodec: 'avc',
        audioCodec: 'aac',
        keyframeIntervalMs: 5000,
      },
      capacity: { activeEncodes: 0, maxEncodes: 8 },
    });
    const { args, outputs: fds } = buildTranscodeArgs(plan, {
      input: 'pipe:0',
      inputFormat: 'flv',
      encoder: 'libx264',
      thumbnails: false,
    });
    const result = await runMediaTool('ffmpeg', args, {
      stdin: flv,
      extraFds: fds.map((output) => output.fd),
      timeoutMs: 55_000,
    });
    expect(result.code, result.stderr).toBe(0);
    const pipeOf = (name: string): Buffer =>
      result.pipes.get(fds.find((output) => output.rendition === name)?.fd ?? -1) ?? Buffer.alloc(0);
    const video = packageBytes(pipeOf('source'), 21);
    const audio = packageBytes(pipeOf('audio'), 22);

    expect(video.segments.length).toBeGreaterThanOrEqual(32);
    expect(audio.segments.length).toBe(video.segments.length);
    expect(audio.nextMsn).toBe(video.nextMsn);
    expectPartRules(audio, AUDIO_PART_TARGET_SECONDS);
    // Segment n of every rendition starts within one audio part of 2n s into the run.
    audio.segments.forEach((segment, index) => {
      const videoSegment = video.segments[index];
      expect(segment.msn).toBe(videoSegment?.msn);
      expect(Math.abs(segment.pdt - (videoSegment?.pdt ?? 0))).toBeLessThan(AUDIO_PART_TARGET_SECONDS * 1000);
    });
    // 10 and 9 parts of 0.2133 s in turn; each EXTINF still rounds to the target duration of 2.
    const full = audio.segments.slice(0, -1);
    expect(new Set(full.map((segment) => segment.parts))).toEqual(new Set([9, 10]));
    for (const segment of audio.segments) expect(Math.round(segment.duration)).toBeLessThanOrEqual(2);
    const total = full.reduce((sum, segment) => sum + segment.duration, 0);
    expect(total / full.length).toBeCloseTo(2, 1);
  });
});
