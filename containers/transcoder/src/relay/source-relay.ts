// Relays a stream's source, as this node receives it, to a standby node (docs/deploy.md, "Relayed
// standby"): an ffmpeg that copies the FLV it is fed to another node's RTMP ingest as a `relay=1`
// publish of the same key, which the origin admits as the stream's warm standby. The node holding
// the encoder's connection keeps feeding it whichever of the two transcodes is on air, so a failed
// transcode here (or the standby's node later) hands the air over without the encoder noticing.
// The relay is best effort and never slows the publish it copies: a relay that falls behind is
// dropped (and tried again), and every failure only schedules the next attempt.
import { type ChildProcess, spawn } from 'node:child_process';
import type { LogEvent } from '../log.ts';
import { isFlvVideoKeyframe, isFlvVideoTag } from '../rtmp/flv.ts';

/** FLV waiting for the relay's ffmpeg beyond this: the standby node cannot keep up; drop the relay. */
export const MAX_RELAY_PENDING_BYTES = 8 * 1024 * 1024;
/** Between a relay that ended (or found no target) and the next attempt. */
export const RELAY_RETRY_MS = 3_000;
/** A run shorter than this (refused, or its target unreachable) doubles the wait before the next. */
const RELAY_SHORT_RUN_MS = 5_000;
const RELAY_MAX_BACKOFF_MS = 30_000;
/** A stopped relay's ffmpeg gets this long to unpublish before it is killed. */
const RELAY_STOP_GRACE_MS = 2_000;

export interface RelaySource {
  /** The stream key the relay publishes with (the standby node authorizes it like any publish). */
  readonly streamKey: string;
  /** First the FLV header and codec configuration, at once, then every tag; returns the remover. */
  onMedia(listener: (flvBytes: Buffer) => void): () => void;
  hasVideo(): boolean;
}

export interface SourceRelayOptions {
  source: RelaySource;
  /** The RTMP application address of a node to relay to (rtmp://host:port/live), or null: none now. */
  findTarget(): Promise<string | null>;
  log(fields: LogEvent): void;
  ffmpegPath?: string;
  retryMs?: number;
}

export interface RelayStats {
  /** The node address the relay publishes to now; null between attempts. */
  target: string | null;
  running: boolean;
  /** Relay ffmpeg runs started. */
  starts: number;
}

/** The relay's ffmpeg: FLV in on stdin, the same packets out as an RTMP publish (no re-encode). */
export function buildRelayArgs(url: string): string[] {
  return [
    '-hide_banner',
    '-loglevel',
    'warning',
    // The transcode's own short probe (ffmpeg/args.ts): FLV announces its tracks up front.
    '-probesize',
    '500000',
    '-analyzeduration',
    '200000',
    '-f',
    'flv',
    '-i',
    'pipe:0',
    '-map',
    '0',
    '-c',
    'copy',
    '-flush_packets',
    '1',
    '-f',
    'flv',
    '-flvflags',
    'no_duration_filesize',
    url,
  ];
}

/** The publish address of a relay: the key as the stream name, marked `relay=1`. */
export function buildRelayUrl(target: string, streamKey: string): string {
  return `${target.replace(/\/+$/, '')}/${encodeURIComponent(streamKey)}?relay=1`;
}

export class SourceRelay {
  readonly #options: SourceRelayOptions;
  #child: ChildProcess | null = null;
  #stopFeed: (() => void) | null = null;
  #retryTimer: NodeJS.Timeout | null = null;
  #target: string | null = null;
  #starts = 0;
  #closed = false;
  /** The wait before the next attempt after a run that ended at once; 0 until one did. */
  #backoffMs = 0;

  constructor(options: SourceRelayOptions) {
    this.#options = options;
  }

  start(): void {
    void this.#connect();
  }

  stats(): RelayStats {
    return { target: this.#target, running: this.#child !== null, starts: this.#starts };
  }

  /**
   * Ends the relay. `graceful` (the encoder stopped streaming): ffmpeg is let unpublish, so the other
   * node hears the encoder stopped; otherwise it is killed, which that node sees as a lost link.
   */
  close(options: { graceful: boolean } = { graceful: false }): void {
    this.#closed = true;
    if (this.#retryTimer !== null) clearTimeout(this.#retryTimer);
    this.#retryTimer = null;
    this.#stop(options.graceful);
  }

  async #connect(): Promise<void> {
    this.#retryTimer = null;
    if (this.#closed) return;
    let target: string | null = null;
    try {
      target = await this.#options.findTarget();
    } catch (error) {
      this.#options.log({ level: 'warn', event: 'relay.target_failed', error: String(error) });
    }
    if (this.#closed) return;
    if (target === null) {
      this.#scheduleRetry(this.#options.retryMs ?? RELAY_RETRY_MS);
      return;
    }
    this.#run(target);
  }

  #run(target: string): void {
    const child = spawn(
      this.#options.ffmpegPath ?? 'ffmpeg',
      buildRelayArgs(buildRelayUrl(target, this.#options.source.streamKey)),
      { stdio: ['pipe', 'ignore', 'pipe'] },
    );
    this.#child = child;
    this.#target = target;
    this.#starts += 1;
    const startedAt = Date.now();
    const stderr: string[] = [];
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => {
      // The url carries the stream key: keep only lines that do not.
      for (const line of chunk.split('\n'))
        if (line.trim() !== '' && !line.includes(this.#options.source.streamKey))
          stderr.push(line.slice(0, 200));
      stderr.splice(0, Math.max(0, stderr.length - 5));
    });
    child.stdin?.on('error', () => {
      // The relay's ffmpeg went away mid-write; its exit handler schedules the next attempt.
    });
    child.on('error', (error) => {
      this.#options.log({ level: 'warn', event: 'relay.spawn_failed', error: error.message });
    });
    child.on('close', (code, signal) => {
      if (this.#child === child) this.#stop(false);
      if (this.#closed) return;
      this.#options.log({ level: 'warn', event: 'relay.ended', target, code, signal, stderr });
      // Refused or unreachable at once (the stream's one standby is taken, say): back off, up to 30 s.
      const base = this.#options.retryMs ?? RELAY_RETRY_MS;
      this.#backoffMs =
        Date.now() - startedAt < RELAY_SHORT_RUN_MS
          ? Math.min(RELAY_MAX_BACKOFF_MS, this.#backoffMs * 2 || base)
          : base;
      this.#scheduleRetry(this.#backoffMs);
    });
    // The standby's decoder starts on a keyframe: the start bytes, then tags from the next one.
    let waitingForKeyframe = this.#options.source.hasVideo();
    let first = true;
    this.#stopFeed = this.#options.source.onMedia((bytes) => {
      const stdin = child.stdin;
      if (stdin === null || stdin.destroyed) return;
      if (first) {
        first = false;
        stdin.write(bytes);
        return;
      }
      if (waitingForKeyframe) {
        if (!isFlvVideoTag(bytes)) return;
        if (!isFlvVideoKeyframe(bytes)) return;
        waitingForKeyframe = false;
      }
      stdin.write(bytes);
      if (stdin.writableLength > MAX_RELAY_PENDING_BYTES) {
        this.#options.log({ level: 'warn', event: 'relay.behind', target });
        child.kill('SIGKILL');
      }
    });
    this.#options.log({ level: 'info', event: 'relay.started', target, run: this.#starts });
  }

  #stop(graceful: boolean): void {
    this.#stopFeed?.();
    this.#stopFeed = null;
    const child = this.#child;
    this.#child = null;
    this.#target = null;
    if (child === null || child.exitCode !== null || child.signalCode !== null) return;
    if (!graceful) {
      child.kill('SIGKILL');
      return;
    }
    // The end of its input lets ffmpeg unpublish (the standby's node hears the encoder stopped).
    child.stdin?.end();
    setTimeout(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }, RELAY_STOP_GRACE_MS).unref();
  }

  #scheduleRetry(delayMs: number): void {
    if (this.#closed || this.#retryTimer !== null) return;
    this.#retryTimer = setTimeout(() => void this.#connect(), delayMs);
  }
}
