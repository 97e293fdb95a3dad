// A real SRT publisher for the tests: ffmpeg's libsrt caller sending MPEG-TS (the brief's testsrc2
// at 320x180, 30 fps, 2 s GOP, AAC), and the URL forms ffmpeg takes.
import { type ChildProcess, spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';

export interface SrtPublisher {
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;
  readonly stderr: () => string;
  /** SIGKILL: the caller vanishes without a SHUTDOWN, as a phone losing its network does. */
  kill(): void;
}

export function srtUrl(port: number, streamId: string, passphrase: string | null, extra = ''): string {
  const secret = passphrase === null ? '' : `&passphrase=${passphrase}&pbkeylen=16`;
  return `srt://127.0.0.1:${port}?streamid=${encodeURIComponent(streamId)}${secret}${extra}`;
}

export function spawnSrtPublisher(url: string, seconds: number): SrtPublisher {
  const child = spawn(
    'ffmpeg',
    [
      '-hide_banner',
      '-nostdin',
      '-loglevel',
      'error',
      '-re',
      '-f',
      'lavfi',
      '-i',
      'testsrc2=size=320x180:rate=30',
      '-f',
      'lavfi',
      '-i',
      'sine=frequency=440:sample_rate=48000',
      '-c:v',
      'libx264',
      '-preset',
      'veryfast',
      '-tune',
      'zerolatency',
      '-g',
      '60',
      '-c:a',
      'aac',
      '-b:a',
      '64k',
      '-t',
      String(seconds),
      '-f',
      'mpegts',
      url,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr?.on('data', (data: Buffer) => {
    if (stderr.length < 20_000) stderr += data.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    child,
    exited,
    stderr: () => stderr,
    kill: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
  };
}

/** A UDP port free on loopback now (bound and released). */
/**
 * A UDP port the SRT listener can take a moment later. Chosen below the kernel's ephemeral range
 * (32768–60999 on Linux): a port the kernel handed out and took back (bind to 0) is the next one it
 * may give any process's DNS lookup or client socket before the transcoder binds it, and the
 * listener then never hears its callers (seen once in CI while wrangler resolved hosts).
 */
export async function findFreeUdpPort(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 10_000);
    const socket = createSocket('udp4');
    const bound = await new Promise<boolean>((resolve) => {
      socket.once('error', () => resolve(false));
      socket.bind(port, '127.0.0.1', () => resolve(true));
    });
    if (!bound) continue;
    await new Promise<void>((resolve) => socket.close(() => resolve()));
    return port;
  }
  throw new Error('no free UDP port between 20000 and 29999');
}
