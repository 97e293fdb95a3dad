// One supervised ffmpeg of a stream and the packagers of its outputs: the FLV goes in, packager
// events come out per rendition. A stream has one lane, or two for a hot standby (docs/deploy.md,
// "Hot standby"); which lane's events are uploaded is the pipeline's and the gate's business, not
// the lane's. A restarted run begins on a keyframe: the session's start bytes (FLV header, codec
// configuration) go in first, then the tags held since the first keyframe of the gap, if one came.
import type { Readable } from 'node:stream';
import type { RenditionName } from '../../../../protocol/ingest.ts';
import { CmafPackager, type CmafPackagerOptions, type PackagerEvent } from '../cmaf/packager.ts';
import { JpegSplitter } from '../jpeg-splitter.ts';
import { isFlvVideoKeyframe, isFlvVideoTag, readFlvMediaTimestamp } from '../rtmp/flv.ts';
import type { TranscodeOutput } from './args.ts';
import { type FfmpegRun, FfmpegSupervisor } from './supervisor.ts';

/** FLV waiting for ffmpeg beyond this means the host cannot keep up. */
export const MAX_PENDING_INPUT_BYTES = 32 * 1024 * 1024;

export interface LaneSource {
  /** The FLV header and cached codec configuration a new ffmpeg run starts with. */
  readStartBytes(): Buffer;
  /** Whether the source has video (a run then starts on a video keyframe). */
  hasVideo(): boolean;
  /** Ingest wall clock (epoch ms) of FLV timestamp 0, once known. */
  mediaZeroAt(): number | null;
}

export interface TranscodeLaneOptions {
  args: string[];
  outputs: TranscodeOutput[];
  packager: (rendition: RenditionName) => CmafPackagerOptions;
  source: LaneSource;
  ffmpegPath?: string;
  /** A run started (its run number, 1 first); the pipeline asks WebRTC sources for a keyframe here. */
  onRun(runNumber: number): void;
  /**
   * A packager event, in order per rendition. `leftover` marks the events the previous run left
   * open (its last segment), flushed when the next run starts.
   */
  onEvent(rendition: RenditionName, event: PackagerEvent, leftover: boolean): void;
  onThumbnail(jpeg: Buffer): void;
  onExit(code: number | null, signal: NodeJS.Signals | null, stderrTail: string[]): void;
  onFatal(error: Error): void;
  /** The lane's input backed up past MAX_PENDING_INPUT_BYTES. */
  onOverloaded(where: string): void;
  onPipeError(rendition: RenditionName | 'thumbnail', error: unknown): void;
}

export class TranscodeLane {
  readonly #options: TranscodeLaneOptions;
  readonly #supervisor: FfmpegSupervisor;
  readonly #packagers = new Map<RenditionName, CmafPackager>();
  #run: FfmpegRun | null = null;
  #runs = 0;
  /** Tags since the first keyframe after this lane's ffmpeg died, for its restarted run. */
  #held: Buffer[] = [];
  #heldBytes = 0;
  #awaitingKeyframe = false;
  /** FLV timestamp of the first media tag fed to the current run (its output time 0). */
  #runFirstTimestamp: number | null = null;
  #runStartKnown: Array<(wallClock: number) => void> = [];
  #initialInput: Buffer[] | null = null;
  #closing: Promise<void> | null = null;

  constructor(options: TranscodeLaneOptions) {
    this.#options = options;
    for (const output of options.outputs) {
      if (output.rendition !== 'thumbnail')
        this.#packagers.set(output.rendition, new CmafPackager(options.packager(output.rendition)));
    }
    this.#supervisor = new FfmpegSupervisor({
      args: options.args,
      outputFds: options.outputs.map((output) => output.fd),
      ...(options.ffmpegPath === undefined ? {} : { ffmpegPath: options.ffmpegPath }),
    });
    this.#supervisor.onRun((run) => this.#onRun(run));
    this.#supervisor.onExit((code, signal, run) => {
      if (this.#run === run) this.#run = null;
      if (this.#closing === null) options.onExit(code, signal, this.#supervisor.stderrTail.slice(-5));
    });
    this.#supervisor.onFatal((error) => options.onFatal(error));
  }

  /** Starts ffmpeg; its first run gets `initialInput` (the held source probe) before live tags. */
  start(initialInput: Buffer[]): void {
    this.#initialInput = initialInput;
    this.#supervisor.start();
  }

  get pid(): number | null {
    return this.#run?.pid ?? null;
  }

  get runs(): number {
    return this.#runs;
  }

  get running(): boolean {
    return this.#run !== null;
  }

  get speed(): number | null {
    return this.#supervisor.speed;
  }

  /** ffmpeg's output frame rate from its progress lines; null before the first. */
  get fps(): number | null {
    return this.#supervisor.fps;
  }

  get heldBytes(): number {
    return this.#heldBytes;
  }

  /**
   * FLV timestamp of the first media tag of the latest run (kept after it exits): equal in two
   * lanes whose runs were fed from the same tag.
   */
  get runFirstTimestamp(): number | null {
    return this.#runFirstTimestamp;
  }

  /** Closes a rendition's open segment now (a discontinuous promotion ends the dead run's segment). */
  flush(rendition: RenditionName): PackagerEvent[] {
    return this.#packagers.get(rendition)?.flush() ?? [];
  }

  /** A live FLV tag from the session. */
  push(tag: Buffer, timestamp: number | null): void {
    if (this.#closing !== null) return;
    const run = this.#run;
    if (run === null) {
      this.#hold(tag);
      return;
    }
    this.#feed(run, tag, timestamp);
  }

  /** Stops ffmpeg (SIGTERM, then SIGKILL) and waits for it; the open segments are flushed as it ends. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#held = [];
      this.#heldBytes = 0;
      this.#run?.stdin.end();
      await this.#supervisor.close();
    })();
    return this.#closing;
  }

  #hold(tag: Buffer): void {
    // Before the first run, nothing: the pipeline holds the probe. After an exit, from a keyframe.
    if (this.#runs === 0) return;
    if (this.#held.length === 0 && !this.#opensGop(tag)) return;
    this.#held.push(tag);
    this.#heldBytes += tag.length;
    if (this.#heldBytes > MAX_PENDING_INPUT_BYTES) this.#options.onOverloaded('restart buffer');
  }

  /** A tag a decoder can start on: a video keyframe, or any tag of a source without video. */
  #opensGop(tag: Buffer): boolean {
    return this.#options.source.hasVideo() ? isFlvVideoKeyframe(tag) : true;
  }

  #feed(run: FfmpegRun, tag: Buffer, timestamp: number | null): void {
    if (this.#awaitingKeyframe && isFlvVideoTag(tag)) {
      if (!isFlvVideoKeyframe(tag)) return;
      this.#awaitingKeyframe = false;
    }
    if (this.#awaitingKeyframe && timestamp !== null) return;
    if (timestamp !== null) this.#noteRunStart(timestamp);
    run.stdin.write(tag);
    if (run.stdin.writableLength > MAX_PENDING_INPUT_BYTES) this.#options.onOverloaded('ffmpeg input');
  }

  #noteRunStart(timestamp: number): void {
    if (this.#runFirstTimestamp !== null) return;
    this.#runFirstTimestamp = timestamp;
    const wallClock = (this.#options.source.mediaZeroAt() ?? Date.now()) + timestamp;
    for (const resolve of this.#runStartKnown.splice(0)) resolve(wallClock);
  }

  #whenRunStarts(): Promise<number> {
    if (this.#runFirstTimestamp !== null) {
      return Promise.resolve((this.#options.source.mediaZeroAt() ?? Date.now()) + this.#runFirstTimestamp);
    }
    return new Promise((resolve) => this.#runStartKnown.push(resolve));
  }

  #onRun(run: FfmpegRun): void {
    this.#runs += 1;
    this.#runFirstTimestamp = null;
    const restart = this.#runs > 1;
    const runStart = this.#whenRunStarts();
    run.outputs.forEach((readable, index) => {
      const name = this.#options.outputs[index]?.rendition;
      if (name === 'thumbnail') void this.#pumpThumbnails(readable);
      else if (name !== undefined) void this.#pumpRendition(name, readable, runStart);
    });
    this.#options.onRun(this.#runs);
    this.#run = run;
    if (restart) {
      this.#awaitingKeyframe = this.#options.source.hasVideo();
      run.stdin.write(this.#options.source.readStartBytes());
      const held = this.#held;
      this.#held = [];
      this.#heldBytes = 0;
      for (const tag of held) this.#feed(run, tag, readFlvMediaTimestamp(tag));
      return;
    }
    const initial = this.#initialInput ?? [];
    this.#initialInput = null;
    for (const tag of initial) {
      const timestamp = readFlvMediaTimestamp(tag);
      if (timestamp !== null) this.#noteRunStart(timestamp);
      run.stdin.write(tag);
    }
  }

  async #pumpRendition(name: RenditionName, readable: Readable, runStart: Promise<number>): Promise<void> {
    const packager = this.#packagers.get(name);
    if (packager === undefined) return;
    // ffmpeg writes nothing before its first input tag, so waiting here loses no bytes: they stay
    // in the pipe until the packager knows the wall clock of this run's time 0.
    const wallClock = await runStart;
    for (const event of packager.reset(wallClock)) this.#options.onEvent(name, event, true);
    try {
      for await (const chunk of readable) {
        const bytes = Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk));
        for (const event of packager.push(bytes)) this.#options.onEvent(name, event, false);
      }
      // A run that ends because the stream ends closes its last segment now; one that died leaves
      // it open for the next run's reset (or the pipeline's promotion) to decide about.
      if (this.#closing !== null) {
        for (const event of packager.flush()) this.#options.onEvent(name, event, false);
      }
    } catch (error) {
      this.#options.onPipeError(name, error);
    }
  }

  async #pumpThumbnails(readable: Readable): Promise<void> {
    const splitter = new JpegSplitter();
    try {
      for await (const chunk of readable) {
        for (const jpeg of splitter.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk)))) {
          this.#options.onThumbnail(jpeg);
        }
      }
    } catch (error) {
      this.#options.onPipeError('thumbnail', error);
    }
  }
}
