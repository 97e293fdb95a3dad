// Single-track copies of a muxed CMAF rendition (media/dash/single-track.ts), on real ffmpeg
// output made the way the transcoder makes its renditions (+cmaf, 200 ms fragments, H.264 + AAC in
// each fragment): each copy has one track, ffprobe reads it, and it holds exactly that track's
// samples, byte for byte. The run facts the MPD is written from (describeRun) come from the same
// bytes.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeRun } from '../../../media/dash/manifest.ts';
import { extractTrackInit, extractTrackSegment, readAudioFormat } from '../../../media/dash/single-track.ts';
import { BoxFormatError, readBoxes } from '../../../media/mp4/boxes.ts';
import { readInit } from '../../../media/mp4/init.ts';
import { runMediaTool } from '../ffmpeg/media-fixtures.ts';

let dir: string;
let init: Uint8Array;
let segment: Uint8Array;

/** Packets ffprobe reads from a file, per codec type: "pts size md5" of each, in order. */
async function probePackets(path: string): Promise<Map<string, string[]>> {
  const probe = await runMediaTool('ffprobe', [
    ...['-v', 'error', '-show_data_hash', 'md5'],
    ...['-show_entries', 'packet=codec_type,pts,size,data_hash', '-of', 'compact', path],
  ]);
  expect(probe.code, probe.stderr).toBe(0);
  const packets = new Map<string, string[]>();
  for (const line of probe.stdout.toString().trim().split('\n')) {
    const field = (name: string) => new RegExp(`\\|${name}=([^|]*)`).exec(line)?.[1] ?? '';
    const type = field('codec_type');
    packets.set(type, [
      ...(packets.get(type) ?? []),
      `${field('pts')} ${field('size')} ${field('data_hash')}`,
    ]);
  }
  return packets;
}

async function probeStreams(path: string): Promise<string[]> {
  const probe = await runMediaTool('ffprobe', [
    ...['-v', 'error', '-show_entries', 'stream=codec_type', '-of', 'csv=p=0', path],
  ]);
  expect(probe.code, probe.stderr).toBe(0);
  return probe.stdout.toString().trim().split('\n');
}

async function writeMp4(name: string, ...parts: Uint8Array[]): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, Buffer.concat(parts));
  return path;
}

describe('single-track copies of muxed CMAF for DASH', () => {
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'dash-track-'));
    const made = await runMediaTool('ffmpeg', [
      ...['-hide_banner', '-loglevel', 'error'],
      ...['-f', 'lavfi', '-i', 'testsrc2=size=320x180:rate=30:duration=4'],
      ...['-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000:duration=4'],
      ...['-c:v', 'libx264', '-preset', 'veryfast', '-g', '60', '-keyint_min', '60', '-sc_threshold', '0'],
      ...['-c:a', 'aac', '-b:a', '64k', '-ac', '2'],
      ...['-f', 'mp4', '-movflags', '+cmaf+frag_keyframe', '-frag_duration', '200000', 'pipe:1'],
    ]);
    expect(made.code, made.stderr).toBe(0);
    const bytes = new Uint8Array(made.stdout);
    const moov = readBoxes(bytes).find((b) => b.type === 'moov');
    if (!moov) throw new Error('ffmpeg wrote no moov');
    // The init is ftyp + moov; the rest (moof + mdat pairs) stands for a stored segment.
    init = bytes.slice(0, moov.start + moov.size);
    segment = bytes.slice(moov.start + moov.size);
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('keeps one track per copy, and each copy holds exactly that track’s packets (times, sizes and bytes)', async () => {
    const tracks = readInit(init).tracks;
    const video = tracks.find((t) => t.handler === 'vide');
    const audio = tracks.find((t) => t.handler === 'soun');
    if (!video || !audio) throw new Error('ffmpeg wrote no muxed A/V');
    const muxed = await probePackets(await writeMp4('muxed.mp4', init, segment));
    expect(await probeStreams(await writeMp4('muxed-streams.mp4', init, segment))).toHaveLength(2);

    for (const [track, type] of [
      [video, 'video'],
      [audio, 'audio'],
    ] as const) {
      const trackInit = extractTrackInit(init, track.trackId);
      expect(readInit(trackInit).tracks.map((t) => t.trackId)).toEqual([track.trackId]);
      const path = await writeMp4(`${type}.mp4`, trackInit, extractTrackSegment(segment, track.trackId));
      expect(await probeStreams(path)).toEqual([type]);
      const packets = await probePackets(path);
      expect(packets.get(type)?.length).toBeGreaterThan(30);
      expect(packets.get(type)).toEqual(muxed.get(type));
      const decoded = await runMediaTool('ffmpeg', ['-v', 'error', '-i', path, '-f', 'null', '-']);
      expect(decoded.code, decoded.stderr).toBe(0);
      expect(decoded.stderr).toBe('');
    }
  });

  it('describes the run the MPD is written from: codec, start time and the audio format per track', () => {
    const run = describeRun(init, segment.slice(0, 64 * 1024));
    expect(run.tracks.map((t) => [t.kind, t.codec.split('.')[0], t.startTime])).toEqual([
      ['video', 'avc1', 0],
      ['audio', 'mp4a', 0],
    ]);
    const audio = run.tracks.find((t) => t.kind === 'audio');
    expect(audio?.audio).toEqual({ sampleRate: 48_000, channels: 2 });
    expect(readAudioFormat(init, run.tracks[0]?.trackId ?? 0)).toBeNull();
  });

  it('refuses a track the init does not have, and a fragment whose samples lie outside the segment', () => {
    expect(() => extractTrackInit(init, 99)).toThrow(BoxFormatError);
    // No fragment has track 99: nothing of it is served.
    expect(() => extractTrackSegment(segment, 99)).toThrow(BoxFormatError);
    // A hostile data_offset (the first trun's, pointed 1 GB away) is refused, not read.
    const broken = segment.slice();
    const view = new DataView(broken.buffer);
    const at = Buffer.from(broken).indexOf('trun');
    view.setInt32(at + 4 + 4 + 4, 1_000_000_000);
    const video = readInit(init).tracks.find((t) => t.handler === 'vide');
    expect(() => extractTrackSegment(broken, video?.trackId ?? 1)).toThrow(BoxFormatError);
  });
});
