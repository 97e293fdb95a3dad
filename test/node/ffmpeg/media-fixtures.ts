// Real media for the transcoder tests, made on the spot by ffmpeg from its lavfi test sources.
import { spawn } from 'node:child_process';
import type { Readable } from 'node:stream';
import { FlvMuxer, parseFlvTags } from '../../../containers/transcoder/src/rtmp/flv.ts';
import type { RtmpMessage } from '../../../containers/transcoder/src/rtmp/messages.ts';

export interface FfmpegResult {
  code: number | null;
  stdout: Buffer;
  stderr: string;
  /** Bytes read from each extra output fd, keyed by fd. */
  pipes: Map<number, Buffer>;
}

/** Runs ffmpeg (or ffprobe) to completion, optionally feeding stdin and reading extra pipes. */
export function runMediaTool(
  tool: 'ffmpeg' | 'ffprobe',
  args: string[],
  options: { stdin?: Buffer; extraFds?: number[]; timeoutMs?: number } = {},
): Promise<FfmpegResult> {
  const extraFds = options.extraFds ?? [];
  const maxFd = Math.max(2, ...extraFds);
  const stdio: Array<'pipe' | 'ignore'> = Array.from({ length: maxFd + 1 }, (_, fd) =>
    fd <= 2 || extraFds.includes(fd) ? 'pipe' : 'ignore',
  );
  return new Promise((resolve, reject) => {
    const child = spawn(tool, args, { stdio });
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 45_000);
    const collect = (stream: Readable | null | undefined): Promise<Buffer> =>
      new Promise((done, fail) => {
        if (stream === null || stream === undefined) return done(Buffer.alloc(0));
        const chunks: Buffer[] = [];
        stream.on('data', (chunk: Buffer) => chunks.push(chunk));
        stream.on('error', fail);
        stream.on('end', () => done(Buffer.concat(chunks)));
      });
    const pipeReads = extraFds.map(async (fd) => [fd, await collect(child.stdio[fd] as Readable)] as const);
    const stdoutRead = collect(child.stdout);
    const stderrRead = collect(child.stderr);
    child.on('error', reject);
    child.stdin?.on('error', () => {
      // ffmpeg may close its stdin before we finish writing; its exit code tells the story.
    });
    child.stdin?.end(options.stdin ?? Buffer.alloc(0));
    child.on('close', (code) => {
      clearTimeout(timer);
      Promise.all([stdoutRead, stderrRead, Promise.all(pipeReads)])
        .then(([stdout, stderr, pipes]) =>
          resolve({ code, stdout, stderr: stderr.toString('utf8'), pipes: new Map(pipes) }),
        )
        .catch(reject);
    });
  });
}

/** An FLV like OBS sends: H.264 (2 s GOP) + AAC, from testsrc2 and a sine tone. */
export async function makeFlvSource(options: {
  seconds: number;
  width?: number;
  height?: number;
  fps?: number;
  gopSeconds?: number;
  /** e.g. '800k': also announced as onMetaData videodatarate. */
  videoBitrate?: string;
  /** x264 profile by pixel format: 'yuv420p' (High) or 'yuv444p' (High 4:4:4). */
  pixelFormat?: 'yuv420p' | 'yuv444p';
  profile?: 'baseline' | 'high' | 'high444';
}): Promise<Buffer> {
  const fps = options.fps ?? 30;
  const gop = String(Math.round((options.gopSeconds ?? 2) * fps));
  const size = `${options.width ?? 320}x${options.height ?? 180}`;
  const result = await runMediaTool('ffmpeg', [
    '-hide_banner',
    '-loglevel',
    'error',
    '-f',
    'lavfi',
    '-i',
    `testsrc2=size=${size}:rate=${fps}`,
    '-f',
    'lavfi',
    '-i',
    'sine=frequency=440:sample_rate=48000',
    '-t',
    String(options.seconds),
    '-c:v',
    'libx264',
    '-preset',
    'ultrafast',
    '-g',
    gop,
    '-keyint_min',
    gop,
    '-sc_threshold',
    '0',
    '-pix_fmt',
    options.pixelFormat ?? 'yuv420p',
    ...(options.profile === undefined ? [] : ['-profile:v', options.profile]),
    ...(options.videoBitrate === undefined ? [] : ['-b:v', options.videoBitrate]),
    '-c:a',
    'aac',
    '-b:a',
    '96k',
    '-f',
    'flv',
    'pipe:1',
  ]);
  if (result.code !== 0) throw new Error(`ffmpeg could not make the FLV source: ${result.stderr}`);
  return result.stdout;
}

/**
 * Replays an FLV file through the muxer as the RTMP messages a publisher sends (script data as AMF0
 * data), optionally leaving out onMetaData, and returns the muxer with what it learned.
 */
export function muxFlvMessages(flv: Buffer, options: { withoutMetadata?: boolean } = {}): FlvMuxer {
  const muxer = new FlvMuxer();
  for (const tag of parseFlvTags(flv)) {
    if (options.withoutMetadata === true && tag.type === 18) continue;
    const message: RtmpMessage = {
      csid: tag.type === 8 ? 4 : 6,
      type: tag.type,
      streamId: 1,
      timestamp: tag.timestamp,
      payload: tag.payload,
    };
    muxer.push(message);
  }
  return muxer;
}

/** Fragmented MP4 straight from lavfi (no FLV step), for the box parser tests. */
export async function makeFragmentedMp4(options: {
  seconds: number;
  profile: 'high' | 'baseline';
}): Promise<Buffer> {
  const result = await runMediaTool('ffmpeg', [
    '-hide_banner',
    '-loglevel',
    'error',
    '-f',
    'lavfi',
    '-i',
    'testsrc2=size=320x180:rate=30',
    '-f',
    'lavfi',
    '-i',
    'sine=frequency=440:sample_rate=48000',
    '-t',
    String(options.seconds),
    '-c:v',
    'libx264',
    '-preset',
    'veryfast',
    '-profile:v',
    options.profile,
    '-pix_fmt',
    'yuv420p',
    '-g',
    '60',
    '-c:a',
    'aac',
    '-b:a',
    '96k',
    '-f',
    'mp4',
    '-movflags',
    '+cmaf+frag_keyframe',
    '-frag_duration',
    '200000',
    'pipe:1',
  ]);
  if (result.code !== 0) throw new Error(`ffmpeg could not make the fMP4: ${result.stderr}`);
  return result.stdout;
}

/** Splits `bytes` into chunks of random sizes (1 byte up to `maxChunk`), deterministic per seed. */
export function splitRandomly(bytes: Buffer, seed: number, maxChunk = 5000): Buffer[] {
  let state = seed >>> 0 || 1;
  const nextRandom = (): number => {
    // xorshift32: reproducible chunking, so a failure can be replayed.
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return state / 0x1_0000_0000;
  };
  const chunks: Buffer[] = [];
  let offset = 0;
  while (offset < bytes.length) {
    const size = 1 + Math.floor(nextRandom() * maxChunk);
    chunks.push(bytes.subarray(offset, offset + size));
    offset += size;
  }
  return chunks;
}
