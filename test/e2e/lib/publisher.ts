// An OBS-like publisher: ffmpeg encoding a generated test pattern and tone as H.264 + AAC with
// 2 s keyframes, over RTMP (or SRT, as MPEG-TS).
import { type ChildProcess, spawn } from 'node:child_process';

export interface Publisher {
  readonly process: ChildProcess;
  readonly exited: Promise<number | null>;
  readonly stderr: string[];
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export interface PublishOptions {
  size?: string;
  fps?: number;
  /** Seconds of media to send; omitted = until stopped. */
  durationSeconds?: number;
  videoBitrate?: string;
  /** `mpegts` for an SRT URL (docs/srt.md); FLV (RTMP) by default. */
  format?: 'flv' | 'mpegts';
}

export function publishTestPattern(url: string, options: PublishOptions = {}): Publisher {
  const fps = options.fps ?? 30;
  const args = [
    ['-hide_banner', '-loglevel', 'error', '-nostdin', '-re'],
    ['-f', 'lavfi', '-i', `testsrc2=size=${options.size ?? '320x180'}:rate=${fps}`],
    ['-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000'],
    options.durationSeconds === undefined ? [] : ['-t', String(options.durationSeconds)],
    ['-c:v', 'libx264', '-preset', 'veryfast', '-tune', 'zerolatency', '-pix_fmt', 'yuv420p'],
    ['-g', String(fps * 2), '-keyint_min', String(fps * 2), '-sc_threshold', '0'],
    ['-b:v', options.videoBitrate ?? '600k', '-maxrate', options.videoBitrate ?? '600k', '-bufsize', '1200k'],
    ['-c:a', 'aac', '-b:a', '64k', '-ar', '48000'],
    // As OBS's librtmp does: without it ffmpeg's Nagle holds each small RTMP command until the
    // server's delayed ACK (~40 ms a round trip, ~130 ms of every connect).
    /^rtmps?:/.test(url) ? ['-tcp_nodelay', '1'] : [],
    ['-f', options.format ?? 'flv', url],
  ].flat();
  const child = spawn('ffmpeg', args, { stdio: ['ignore', 'ignore', 'pipe'] });
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
