// Keeps one ffmpeg process alive for a stream: spawns it with one pipe per output, restarts it when
// it dies (a viewer sees a discontinuity, not an ended stream), gives up on a crash loop, and never
// leaves it behind: close() kills it, and so does this process exiting.
import { type ChildProcess, spawn } from 'node:child_process';
import { Readable, type Writable } from 'node:stream';

/** A restart within 2 s keeps the gap inside the players' buffer of 3 part-targets plus a segment. */
const RESTART_DELAY_MIN_MS = 250;
const RESTART_DELAY_MAX_MS = 2000;
const KILL_GRACE_MS = 2000;
const STDERR_TAIL_LINES = 30;

export interface FfmpegRun {
  id: number;
  pid: number;
  startedAt: number;
  /** ffmpeg's stdin (the FLV or other input); replaced on every restart. */
  stdin: Writable;
  /** One readable per entry of `outputFds`, in the same order. */
  outputs: Readable[];
}

export interface FfmpegSupervisorOptions {
  args: string[];
  /** The child fds ffmpeg writes its outputs to (`pipe:3`, `pipe:4`, ...). */
  outputFds: number[];
  ffmpegPath?: string;
  /** Unexpected exits tolerated within `failureWindowMs` before giving up (default 5). */
  maxFailures?: number;
  failureWindowMs?: number;
}

type RunListener = (run: FfmpegRun) => void;
type ExitListener = (code: number | null, signal: NodeJS.Signals | null, run: FfmpegRun) => void;
type FatalListener = (error: Error) => void;

const liveChildren = new Set<ChildProcess>();
let exitHookInstalled = false;

/** A Node process that exits (even on an uncaught error) takes its ffmpeg children with it. */
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const child of liveChildren) child.kill('SIGKILL');
  });
}

export class FfmpegSupervisor {
  readonly #options: Required<FfmpegSupervisorOptions>;
  readonly #runListeners = new Set<RunListener>();
  readonly #exitListeners = new Set<ExitListener>();
  readonly #fatalListeners = new Set<FatalListener>();
  #child: ChildProcess | null = null;
  #run: FfmpegRun | null = null;
  #runCount = 0;
  #failures: number[] = [];
  #restartTimer: NodeJS.Timeout | null = null;
  #closing = false;
  #fatal: Error | null = null;
  #stderrTail: string[] = [];
  #stderrPartial = '';
  #speed: number | null = null;
  #fps: number | null = null;

  constructor(options: FfmpegSupervisorOptions) {
    this.#options = {
      ffmpegPath: 'ffmpeg',
      maxFailures: 5,
      failureWindowMs: 60_000,
      ...options,
    };
  }

  get currentRun(): FfmpegRun | null {
    return this.#run;
  }

  get stdin(): Writable | null {
    return this.#run?.stdin ?? null;
  }

  /** ffmpeg's last encoding speed (1.0 = real time), from its progress line. */
  get speed(): number | null {
    return this.#speed;
  }

  /** ffmpeg's last frames per second encoded, from its progress line ("fps= 30"). */
  get fps(): number | null {
    return this.#fps;
  }

  /** The last lines ffmpeg wrote to stderr, progress lines excluded. */
  get stderrTail(): string[] {
    return [...this.#stderrTail];
  }

  get fatalError(): Error | null {
    return this.#fatal;
  }

  onRun(listener: RunListener): () => void {
    this.#runListeners.add(listener);
    return () => this.#runListeners.delete(listener);
  }

  onExit(listener: ExitListener): () => void {
    this.#exitListeners.add(listener);
    return () => this.#exitListeners.delete(listener);
  }

  onFatal(listener: FatalListener): () => void {
    this.#fatalListeners.add(listener);
    return () => this.#fatalListeners.delete(listener);
  }

  start(): void {
    if (this.#child !== null || this.#closing || this.#fatal !== null) return;
    this.#spawn();
  }

  /** Stops ffmpeg: SIGTERM (it finishes its fragments), SIGKILL after 2 s, and waits for the exit. */
  async close(): Promise<void> {
    this.#closing = true;
    if (this.#restartTimer !== null) {
      clearTimeout(this.#restartTimer);
      this.#restartTimer = null;
    }
    const child = this.#child;
    if (child === null) return;
    const exited = new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
    });
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const killTimer = setTimeout(() => child.kill('SIGKILL'), KILL_GRACE_MS);
    await exited;
    clearTimeout(killTimer);
  }

  #spawn(): void {
    const maxFd = Math.max(2, ...this.#options.outputFds);
    const stdio: Array<'pipe' | 'ignore'> = Array.from({ length: maxFd + 1 }, (_, fd) =>
      fd === 1 || (fd > 2 && !this.#options.outputFds.includes(fd)) ? 'ignore' : 'pipe',
    );
    const child = spawn(this.#options.ffmpegPath, this.#options.args, { stdio });
    installExitHook();
    this.#child = child;
    this.#runCount += 1;
    const runId = this.#runCount;

    child.on('error', (error) => {
      // spawn failure (ffmpeg missing): 'exit' may never come, so count it as a failed run here.
      this.#appendStderr(`spawn error: ${error.message}`);
      if (child.pid === undefined) this.#handleExit(child, null, null, null);
    });
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (text: string) => this.#readStderr(text));
    const stdin = child.stdin;
    const outputs = this.#options.outputFds.map((fd) => child.stdio[fd]);
    if (child.pid === undefined || stdin === null || !outputs.every((output) => output instanceof Readable))
      return;
    liveChildren.add(child);
    // A dying ffmpeg closes its pipes under our feet: EPIPE on stdin is expected, the exit says why.
    stdin.on('error', () => {});
    for (const output of outputs) output.on('error', () => {});

    const run: FfmpegRun = { id: runId, pid: child.pid, startedAt: Date.now(), stdin, outputs };
    this.#run = run;
    child.once('exit', (code, signal) => this.#handleExit(child, run, code, signal));
    for (const listener of this.#runListeners) listener(run);
  }

  #handleExit(
    child: ChildProcess,
    run: FfmpegRun | null,
    code: number | null,
    signal: NodeJS.Signals | null,
  ): void {
    liveChildren.delete(child);
    if (this.#child === child) {
      this.#child = null;
      this.#run = null;
    }
    if (run !== null) for (const listener of this.#exitListeners) listener(code, signal, run);
    if (this.#closing) return;

    const now = Date.now();
    this.#failures = this.#failures.filter((at) => now - at < this.#options.failureWindowMs);
    this.#failures.push(now);
    if (this.#failures.length >= this.#options.maxFailures) {
      const tail = this.#stderrTail.slice(-5).join(' | ');
      this.#fatal = new Error(
        `ffmpeg failed ${this.#failures.length} times within ${this.#options.failureWindowMs} ms; last output: ${tail}`,
      );
      for (const listener of this.#fatalListeners) listener(this.#fatal);
      return;
    }
    const delay = Math.min(RESTART_DELAY_MAX_MS, RESTART_DELAY_MIN_MS * 2 ** (this.#failures.length - 1));
    this.#restartTimer = setTimeout(() => {
      this.#restartTimer = null;
      if (!this.#closing) this.#spawn();
    }, delay);
  }

  #readStderr(text: string): void {
    // Progress lines end in '\r' (they overwrite each other on a terminal), log lines in '\n'.
    const pieces = (this.#stderrPartial + text).split(/[\r\n]/);
    this.#stderrPartial = pieces.pop() ?? '';
    for (const piece of pieces) this.#appendStderr(piece);
  }

  #appendStderr(line: string): void {
    const trimmed = line.trim();
    if (trimmed === '') return;
    const speed = /speed=\s*([\d.]+)x/.exec(trimmed);
    if (speed?.[1] !== undefined) {
      this.#speed = Number.parseFloat(speed[1]);
      const fps = /fps=\s*([\d.]+)/.exec(trimmed);
      if (fps?.[1] !== undefined) this.#fps = Number.parseFloat(fps[1]);
      return;
    }
    this.#stderrTail.push(trimmed);
    if (this.#stderrTail.length > STDERR_TAIL_LINES) this.#stderrTail.shift();
  }
}
