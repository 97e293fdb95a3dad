import { describe, expect, it } from 'vitest';
import { buildTranscodeArgs } from '../../../containers/transcoder/src/ffmpeg/args.ts';
import { planLadder, type SourceInfo } from '../../../containers/transcoder/src/ffmpeg/ladder.ts';
import { BoxReader } from '../../../media/mp4/boxes.ts';
import { readMoov } from '../../../media/mp4/init.ts';
import { makeFlvSource, runMediaTool } from './media-fixtures.ts';

const SOURCE_1080P60: SourceInfo = {
  width: 1920,
  height: 1080,
  fps: 60,
  videoCodec: 'avc',
  audioCodec: 'aac',
  keyframeIntervalMs: 2000,
};
const IDLE = { activeEncodes: 0, maxEncodes: 16 };

/** The arguments of the output that writes to `pipe:fd`: everything after the previous output. */
function outputArgs(args: string[], fd: number): string[] {
  const end = args.indexOf(`pipe:${fd}`);
  const previous = args.lastIndexOf(`pipe:${fd - 1}`, end);
  // The first output starts after the input and the filter graph.
  const start =
    previous === -1 ? Math.max(args.indexOf('-i'), args.indexOf('-filter_complex')) + 2 : previous + 1;
  return args.slice(start, end + 1);
}

function valueAfter(args: string[], flag: string): string | undefined {
  const index = args.indexOf(flag);
  return index === -1 ? undefined : args[index + 1];
}

describe('ffmpeg transcode arguments', () => {
  const plan = planLadder({ tier: 'partner', source: SOURCE_1080P60, capacity: IDLE });

  it('decodes the FLV pipe once and writes each rendition to its own fd starting at 3', () => {
    const { args, outputs } = buildTranscodeArgs(plan, {
      input: 'pipe:0',
      inputFormat: 'flv',
      encoder: 'libx264',
      thumbnails: true,
    });
    expect(args.filter((arg) => arg === '-i')).toHaveLength(1);
    expect(valueAfter(args, '-f')).toBe('flv');
    expect(valueAfter(args, '-i')).toBe('pipe:0');
    expect(outputs).toEqual([
      { rendition: 'source', fd: 3 },
      { rendition: '720p60', fd: 4 },
      { rendition: '480p30', fd: 5 },
      { rendition: '360p30', fd: 6 },
      { rendition: '160p30', fd: 7 },
      { rendition: 'audio', fd: 8 },
      { rendition: 'thumbnail', fd: 9 },
    ]);
    const graph = valueAfter(args, '-filter_complex') ?? '';
    // Four encoded rungs plus the thumbnail branch share one decode.
    expect(graph).toContain('[0:v]split=5');
    expect(graph).toContain('scale=-2:720,fps=60');
    expect(graph).toContain('scale=-2:160,fps=30');
    expect(graph).toContain(
      "select='isnan(prev_selected_t)+gte(t-prev_selected_t\\,10)',scale=-2:360[thumb]",
    );
    expect(args.slice(0, args.indexOf('-i'))).toEqual(
      expect.arrayContaining(['-flags', 'low_delay', '-probesize']),
    );
  });

  it('muxes every rendition as CMAF with 200 ms fragments and 2 s aligned GOPs', () => {
    const { args, outputs } = buildTranscodeArgs(plan, {
      input: 'pipe:0',
      inputFormat: 'flv',
      encoder: 'libx264',
      thumbnails: false,
    });
    for (const { fd } of outputs) {
      const output = outputArgs(args, fd);
      expect(valueAfter(output, '-f')).toBe('mp4');
      expect(valueAfter(output, '-movflags')).toBe('+cmaf+frag_keyframe+empty_moov+default_base_moof');
      expect(valueAfter(output, '-frag_duration')).toBe('200000');
    }
    const source = outputArgs(args, 3);
    expect(valueAfter(source, '-map')).toBe('0:v:0');
    expect(valueAfter(source, '-c:v')).toBe('copy');
    expect(valueAfter(source, '-c:a')).toBe('copy');

    const hd = outputArgs(args, 4);
    expect(valueAfter(hd, '-map')).toBe('[out_720p60]');
    expect(hd).toEqual(expect.arrayContaining(['-map', '0:a:0?']));
    expect(valueAfter(hd, '-c:v')).toBe('libx264');
    expect(valueAfter(hd, '-preset')).toBe('veryfast');
    expect(valueAfter(hd, '-tune')).toBe('zerolatency');
    expect(valueAfter(hd, '-sc_threshold')).toBe('0');
    expect(valueAfter(hd, '-g')).toBe('120');
    expect(valueAfter(hd, '-keyint_min')).toBe('120');
    expect(valueAfter(hd, '-force_key_frames')).toBe('expr:gte(t,n_forced*2)');
    expect([valueAfter(hd, '-b:v'), valueAfter(hd, '-maxrate'), valueAfter(hd, '-bufsize')]).toEqual([
      '3000k',
      '3000k',
      '3000k',
    ]);
    expect(valueAfter(outputArgs(args, 5), '-g')).toBe('60');

    const audio = outputArgs(args, 8);
    expect(audio).toContain('-vn');
    expect(valueAfter(audio, '-map')).toBe('0:a:0');
    expect([valueAfter(audio, '-c:a'), valueAfter(audio, '-b:a'), valueAfter(audio, '-ar')]).toEqual([
      'aac',
      '128k',
      '48000',
    ]);
  });

  it('uses NVENC low-latency CBR settings that force IDR keyframes when asked for h264_nvenc', () => {
    const { args } = buildTranscodeArgs(plan, {
      input: 'pipe:0',
      inputFormat: 'flv',
      encoder: 'h264_nvenc',
      thumbnails: false,
    });
    const hd = outputArgs(args, 4);
    expect(valueAfter(hd, '-c:v')).toBe('h264_nvenc');
    expect(valueAfter(hd, '-preset')).toBe('p4');
    expect(valueAfter(hd, '-tune')).toBe('ll');
    expect(valueAfter(hd, '-rc')).toBe('cbr');
    expect(valueAfter(hd, '-zerolatency')).toBe('1');
    expect(valueAfter(hd, '-forced-idr')).toBe('1');
    expect(hd).not.toContain('libx264');
  });

  it('runs in ffmpeg 5.1: every pipe carries a CMAF init and fragments, the thumbnail pipe a JPEG', async () => {
    const flv = await makeFlvSource({ seconds: 2.5 });
    const smallPlan = planLadder({
      tier: 'partner',
      source: { ...SOURCE_1080P60, width: 320, height: 180, fps: 30 },
      capacity: IDLE,
    });
    const { args, outputs } = buildTranscodeArgs(smallPlan, {
      input: 'pipe:0',
      inputFormat: 'flv',
      encoder: 'libx264',
      thumbnails: true,
    });
    expect(outputs.map((output) => output.rendition)).toEqual(['source', '160p30', 'audio', 'thumbnail']);
    const result = await runMediaTool('ffmpeg', args, {
      stdin: flv,
      extraFds: outputs.map((output) => output.fd),
    });
    expect(result.code, result.stderr).toBe(0);
    // The progress line the supervisor parses is there at warning log level.
    expect(result.stderr).toMatch(/speed=\s*[\d.]+x/);

    for (const output of outputs) {
      const bytes = result.pipes.get(output.fd) ?? Buffer.alloc(0);
      if (output.rendition === 'thumbnail') {
        expect(bytes.subarray(0, 3).toString('hex')).toBe('ffd8ff');
        continue;
      }
      const boxes = new BoxReader().push(bytes);
      expect(boxes.slice(0, 3).map((box) => box.type)).toEqual(['ftyp', 'moov', 'moof']);
      const moov = boxes[1];
      if (moov === undefined) throw new Error('no moov');
      const handlers = readMoov(moov.bytes, moov).tracks.map((track) => track.handler);
      expect(handlers).toEqual(output.rendition === 'audio' ? ['soun'] : ['vide', 'soun']);
      expect(boxes.filter((box) => box.type === 'moof').length).toBeGreaterThanOrEqual(10);
    }
  });
});
