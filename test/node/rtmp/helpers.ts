// Test helpers for the RTMP server: a real ffmpeg publisher, ffprobe on collected FLV, and a
// raw RTMP client on a real socket for what ffmpeg cannot be made to send.
import { type ChildProcess, spawn } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { ChunkReader } from '../../../containers/transcoder/src/rtmp/chunk-reader.ts';
import { ChunkWriter } from '../../../containers/transcoder/src/rtmp/chunk-writer.ts';
import type { RtmpMessage } from '../../../containers/transcoder/src/rtmp/messages.ts';

export interface Publisher {
  readonly child: ChildProcess;
  /** Resolves with the exit code (null when killed by a signal). */
  readonly exited: Promise<number | null>;
  readonly stderr: () => string;
  kill(): void;
}

/** The publish command from the brief, bounded by `-t`; `outputArgs` go before the URL (e.g. TLS options). */
export function spawnPublisher(url: string, seconds: number, outputArgs: string[] = []): Publisher {
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
      ...outputArgs,
      '-f',
      'flv',
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

export interface ProbedStream {
  codec_name?: string;
  codec_type?: string;
  width?: number;
  height?: number;
}

export async function probeFlv(bytes: Buffer): Promise<ProbedStream[]> {
  const child = spawn(
    'ffprobe',
    [
      '-v',
      'error',
      '-f',
      'flv',
      '-i',
      'pipe:0',
      '-show_entries',
      'stream=codec_name,codec_type,width,height',
      '-of',
      'json',
    ],
    { stdio: ['pipe', 'pipe', 'pipe'] },
  );
  let output = '';
  child.stdout.on('data', (data: Buffer) => {
    output += data.toString();
  });
  // ffprobe may stop reading before the end: that is not a failure here.
  child.stdin.on('error', () => {});
  child.stdin.end(bytes);
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  await new Promise((resolve) => child.once('exit', resolve));
  clearTimeout(timer);
  const parsed: unknown = JSON.parse(output || '{}');
  if (
    typeof parsed !== 'object' ||
    parsed === null ||
    !('streams' in parsed) ||
    !Array.isArray(parsed.streams)
  )
    return [];
  return parsed.streams.map((stream: unknown): ProbedStream => {
    if (typeof stream !== 'object' || stream === null) return {};
    const fields = new Map(Object.entries(stream));
    const text = (key: string): string | undefined => {
      const value = fields.get(key);
      return typeof value === 'string' ? value : undefined;
    };
    const number = (key: string): number | undefined => {
      const value = fields.get(key);
      return typeof value === 'number' ? value : undefined;
    };
    return {
      codec_name: text('codec_name'),
      codec_type: text('codec_type'),
      width: number('width'),
      height: number('height'),
    };
  });
}

/** Polls `predicate` every 25 ms; throws after `timeoutMs`. */
export async function waitFor(predicate: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

export interface RawConnection {
  readonly socket: Socket;
  /** Resolves with the ms from connect to close. */
  readonly closed: Promise<number>;
  received(): Buffer;
}

/** `localAddress` picks the source address: any of 127.0.0.0/8 reaches loopback, as many clients. */
export async function connectRaw(port: number, localAddress?: string): Promise<RawConnection> {
  const socket = connect({
    host: '127.0.0.1',
    port,
    ...(localAddress === undefined ? {} : { localAddress }),
  });
  const started = Date.now();
  const chunks: Buffer[] = [];
  socket.on('data', (data: Buffer) => chunks.push(data));
  socket.on('error', () => {});
  const closed = new Promise<number>((resolve) => socket.once('close', () => resolve(Date.now() - started)));
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('error', reject);
  });
  return { socket, closed, received: () => Buffer.concat(chunks) };
}

/** C0+C1, then C2 once S0+S1+S2 are in. */
export async function performHandshake(connection: RawConnection): Promise<void> {
  connection.socket.write(Buffer.concat([Buffer.from([3]), Buffer.alloc(1536, 1)]));
  await waitFor(() => connection.received().length >= 3073, 5000, 'S0+S1+S2');
  connection.socket.write(Buffer.alloc(1536, 2));
}

/** A raw RTMP client that speaks through the same chunk codec the server uses. */
export class RawRtmpClient {
  readonly connection: RawConnection;
  readonly writer = new ChunkWriter();
  readonly reader = new ChunkReader();
  readonly messages: RtmpMessage[] = [];

  constructor(connection: RawConnection) {
    this.connection = connection;
  }

  static async open(port: number, localAddress?: string): Promise<RawRtmpClient> {
    const connection = await connectRaw(port, localAddress);
    await performHandshake(connection);
    const client = new RawRtmpClient(connection);
    const handshakeBytes = connection.received().subarray(3073);
    if (handshakeBytes.length > 0) client.messages.push(...client.reader.push(Buffer.from(handshakeBytes)));
    connection.socket.on('data', (data: Buffer) => client.messages.push(...client.reader.push(data)));
    return client;
  }

  send(...messages: RtmpMessage[]): void {
    this.connection.socket.write(Buffer.concat(messages.map((message) => this.writer.write(message))));
  }
}
