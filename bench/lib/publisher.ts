// An OBS-like RTMP publisher (ffmpeg: test pattern + tone, x264 veryfast zerolatency, 2 s GOP, `-re`)
// that also reports its own media clock. The transcoder stamps PROGRAM-DATE-TIME from its wall clock
// when ffmpeg starts, not when the first byte arrived, so a latency figure that is to start at
// ingest needs an independent record of when media time t left the publisher: with `-re` that is
// publishStartedAt + t, and `-progress` tells us publishStartedAt.
import { type ChildProcess, spawn } from 'node:child_process';
import { trackMediaZero } from '../../scripts/lib/media-clock.ts';

export interface ClockedPublisher {
  readonly process: ChildProcess;
  readonly exited: Promise<number | null>;
  /**
   * Wall clock (epoch ms) at which media time 0 was read, so media time t left at
   * mediaZeroAt + t (ms); null until ffmpeg has reported progress.
   */
  mediaZeroAt(): number | null;
  readonly stderr: string[];
  stop(): Promise<number | null>;
}

export interface ClockedPublishOptions {
  size: string;
  fps: number;
  videoBitrate: string;
  /** Seconds of media; omitted = until stopped. */
  durationSeconds?: number;
  /** `mpegts` for an SRT URL (bench/srt-ingest.ts); FLV (RTMP) by default. */
  format?: 'flv' | 'mpegts';
  /** Muxer options before the URL, e.g. `-pes_payload_size 0`. */
  outputArgs?: string[];
}

export function startClockedPublisher(url: string, options: ClockedPublishOptions): ClockedPublisher {
  const gop = String(options.fps * 2);
  const args = [
    ['-hide_banner', '-loglevel', 'error', '-nostdin', '-re'],
    ['-f', 'lavfi', '-i', `testsrc2=size=${options.size}:rate=${options.fps}`],
    ['-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000'],
    options.durationSeconds === undefined ? [] : ['-t', String(options.durationSeconds)],
    ['-c:v', 'libx264', '-preset', 'veryfast', '-tune', 'zerolatency', '-pix_fmt', 'yuv420p'],
    ['-g', gop, '-keyint_min', gop, '-sc_threshold', '0'],
    ['-b:v', options.videoBitrate, '-maxrate', options.videoBitrate, '-bufsize', options.videoBitrate],
    ['-c:a', 'aac', '-b:a', '64k', '-ar', '48000'],
    ['-progress', 'pipe:1', '-stats_period', '0.25'],
    options.outputArgs ?? [],
    ['-f', options.format ?? 'flv', url],
  ].flat();
  const child = spawn('ffmpeg', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const stderr: string[] = [];
  const mediaZeroAt = trackMediaZero(child.stdout);
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (text: string) => {
    stderr.push(text);
    if (stderr.length > 100) stderr.shift();
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    process: child,
    exited,
    stderr,
    mediaZeroAt,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGINT');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}
