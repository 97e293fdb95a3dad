// The bridge from an SRT session's MPEG-TS to the FLV every other part of the transcoder reads: one
// ffmpeg per session takes the transport stream on stdin, copies H.264, turns the audio (AAC, MP2,
// AC-3, Opus: whatever the encoder sent) into AAC, and writes FLV on stdout, as the WHIP bridge does
// for RTP (whip/rtp-bridge.ts). Bounded: bytes ffmpeg has not read past MAX_PENDING_STDIN_BYTES mean
// it is stuck, and the bridge fails rather than queue. close() kills ffmpeg; nothing outlives it.
import { type ChildProcess, spawn } from 'node:child_process';
import type { FlvTag } from '../rtmp/flv.ts';
import { FlvTagReader, wireFlvBridge } from '../whip/flv-tag-reader.ts';

const STDERR_TAIL_LINES = 20;
/** About 4 s of a 8 Mb/s stream: ffmpeg reads far faster than any publisher sends. */
export const MAX_PENDING_STDIN_BYTES = 4 * 1024 * 1024;

export function buildTsBridgeArgs(): string[] {
  return [
    '-hide_banner',
    '-nostats',
    '-loglevel',
    'error',
    // One second of probing: a live encoder repeats PAT/PMT and parameter sets every GOP or faster.
    '-analyzeduration',
    '1000000',
    '-probesize',
    '1000000',
    '-f',
    'mpegts',
    '-i',
    'pipe:0',
    '-map',
    '0:v:0?',
    '-map',
    '0:a:0?',
    '-c:v',
    'copy',
    '-c:a',
    'aac',
    '-b:a',
    '128k',
    '-ar',
    '48000',
    '-f',
    'flv',
    '-flvflags',
    'no_duration_filesize',
    'pipe:1',
  ];
}

export class TsBridge {
  readonly #ffmpegPath: string;
  readonly #reader = new FlvTagReader();
  #child: ChildProcess | null = null;
  #tagListener: (tag: FlvTag) => void = () => {};
  #exitListener: (error: string) => void = () => {};
  #closed = false;
  readonly #stderr: string[] = [];

  constructor(options: { ffmpegPath?: string } = {}) {
    this.#ffmpegPath = options.ffmpegPath ?? 'ffmpeg';
  }

  onTag(listener: (tag: FlvTag) => void): void {
    this.#tagListener = listener;
  }

  /** Called once if ffmpeg exits, falls behind or writes unreadable FLV before close(). */
  onExit(listener: (error: string) => void): void {
    this.#exitListener = listener;
  }

  get pid(): number | null {
    return this.#child?.pid ?? null;
  }

  get stderrTail(): readonly string[] {
    return this.#stderr;
  }

  start(): void {
    if (this.#closed) return;
    const child = spawn(this.#ffmpegPath, buildTsBridgeArgs(), { stdio: ['pipe', 'pipe', 'pipe'] });
    this.#child = child;
    wireFlvBridge(child, {
      reader: this.#reader,
      stderr: this.#stderr,
      stderrLines: STDERR_TAIL_LINES,
      onTag: (tag) => this.#tagListener(tag),
      onFail: (error) => this.#fail(error),
    });
  }

  /** Hands ffmpeg the next bytes of the transport stream, in order. */
  write(payload: Buffer): void {
    const stdin = this.#child?.stdin;
    if (this.#closed || stdin === undefined || stdin === null) return;
    if (stdin.writableLength > MAX_PENDING_STDIN_BYTES) {
      this.#fail('bridge ffmpeg fell behind the publisher');
      return;
    }
    stdin.write(payload);
  }

  #fail(error: string): void {
    if (this.#closed) return;
    this.close();
    this.#exitListener(error);
  }

  /** Kills ffmpeg; runs once. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const child = this.#child;
    if (child !== null && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
}
