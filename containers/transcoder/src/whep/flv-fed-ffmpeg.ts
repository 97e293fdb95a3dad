// One ffmpeg fed a stream's FLV on stdin for its WHEP viewers (the Opus audio, the real-time video
// rendition): started by the first push, its stdout handed to a reader, bounded in what it may
// hold (a stalled encoder is stopped, not queued for), and gone with close(). A failure — an exit,
// unreadable output, falling behind — is reported once, after the process was stopped.
import { type ChildProcess, spawn } from 'node:child_process';

/** FLV queued for a stalled ffmpeg past this: it is stopped. */
const MAX_PENDING_INPUT_BYTES = 8 * 1024 * 1024;
const STDERR_TAIL_CHARS = 2_000;

export interface FlvFedFfmpegOptions {
  readonly args: readonly string[];
  /** Reads a chunk of stdout; throwing means the output is unreadable (reported as `events.failed`). */
  readonly onOutput: (chunk: Buffer) => void;
  readonly onFailure: (event: string, error: string) => void;
  /** The log events of this process's failures, e.g. `whep.audio_exited`. */
  readonly events: { readonly stalled: string; readonly failed: string; readonly exited: string };
  readonly ffmpegPath?: string;
}

export class FlvFedFfmpeg {
  readonly #options: FlvFedFfmpegOptions;
  #child: ChildProcess | null = null;
  #closed = false;

  constructor(options: FlvFedFfmpegOptions) {
    this.#options = options;
  }

  get pid(): number | null {
    return this.#child?.pid ?? null;
  }

  /** Feeds FLV bytes (the first call must be the stream's start bytes); starts ffmpeg on the first. */
  push(flvBytes: Buffer): void {
    if (this.#closed) return;
    const child = this.#child ?? this.#start();
    if ((child.stdin?.writableLength ?? 0) > MAX_PENDING_INPUT_BYTES) {
      this.#fail(this.#options.events.stalled, 'the encoder fell behind');
      return;
    }
    child.stdin?.write(flvBytes);
  }

  #start(): ChildProcess {
    const child = spawn(this.#options.ffmpegPath ?? 'ffmpeg', [...this.#options.args], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.#child = child;
    let stderr = '';
    child.stderr?.on('data', (data: Buffer) => {
      stderr = `${stderr}${data.toString()}`.slice(-STDERR_TAIL_CHARS);
    });
    child.stdin?.on('error', () => {});
    child.stdout?.on('data', (chunk: Buffer) => {
      if (this.#closed) return;
      try {
        this.#options.onOutput(chunk);
      } catch (error) {
        this.#fail(this.#options.events.failed, String(error));
      }
    });
    child.once('exit', (code, signal) => {
      this.#fail(this.#options.events.exited, `${code ?? signal}: ${stderr.trim()}`);
    });
    return child;
  }

  #fail(event: string, error: string): void {
    if (this.#closed) return;
    this.close();
    this.#options.onFailure(event, error);
  }

  /** Kills ffmpeg; runs once. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const child = this.#child;
    this.#child = null;
    if (child !== null && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
}
