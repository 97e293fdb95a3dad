// One in-order upload queue per rendition: the init, then parts and segments in the order the
// packager produced them (a part must not reach the origin before its rendition's init). Renditions
// run side by side. When the origin falls behind, stale parts are shed; inits and segments never are,
// because a playlist can skip a part but not a segment. A backlog of them that outgrows its bound
// ends the publish instead of the process: the uploader gives up and reports an overflow.
import type { InitMeta, PartMeta, SegmentMeta } from '../../../../protocol/ingest.ts';
import { recordUploadLatency } from '../metrics/transcoder-metrics.ts';
import { CutOffError, IngestRequestError, type PublishRef } from './ingest-client.ts';

/** The slice of IngestClient the uploader needs. */
export interface IngestSink {
  putInit(publish: PublishRef, meta: InitMeta, bytes: Uint8Array): Promise<void>;
  putPart(publish: PublishRef, meta: PartMeta, bytes: Uint8Array): Promise<void>;
  putSegment(publish: PublishRef, meta: SegmentMeta, bytes: Uint8Array): Promise<void>;
}

export type UploadItem =
  | { kind: 'init'; meta: InitMeta; bytes: Uint8Array }
  | { kind: 'part'; meta: PartMeta; bytes: Uint8Array }
  | { kind: 'segment'; meta: SegmentMeta; bytes: Uint8Array };

/** 50 parts = 10 s of video: older parts have left every player's live edge by then. */
export const DEFAULT_MAX_QUEUED_PARTS = 50;
/**
 * 30 s of media: past the origin's 10 s publisher timeout and its 60 s reconnect window's midpoint,
 * the viewers have stalled anyway, and a stream's renditions together queue ~1.5 MB/s. Giving up
 * drops the publisher, whose encoder reconnects and starts afresh once the origin is back.
 */
export const DEFAULT_MAX_BACKLOG_SECONDS = 30;
/** Pause before trying an init or segment again once the client has used up its own retries. */
const RESEND_PAUSE_MS = 1000;
const TIMING_SAMPLES = 1000;

export interface UploadStats {
  uploaded: number;
  droppedParts: number;
  failed: number;
  pending: number;
  /** Enqueue-to-done latency of successful uploads (last 1000), in ms. */
  latencyMs: { count: number; mean: number; p50: number; p95: number; max: number };
}

/** The inits and segments waiting for the origin span more than the bound: the publish is given up. */
export class UploadBacklogError extends Error {
  override readonly name = 'UploadBacklogError';
}

export interface RenditionUploaderOptions {
  sink: IngestSink;
  publish: PublishRef;
  maxQueuedParts?: number;
  /**
   * Bound on unsent inits and segments, in seconds: of queued segment media, and of waiting time
   * of the oldest one (an init retried with no segment behind it). Default 30.
   */
  maxBacklogSeconds?: number;
  log?: (message: string) => void;
}

interface QueuedItem {
  item: UploadItem;
  enqueuedAt: number;
}

function pickPercentile(sorted: number[], fraction: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(fraction * sorted.length))] ?? 0;
}

export class RenditionUploader {
  readonly #sink: IngestSink;
  readonly #publish: PublishRef;
  readonly #maxQueuedParts: number;
  readonly #maxBacklogMs: number;
  readonly #log: (message: string) => void;
  readonly #cutOffListeners = new Set<(error: CutOffError) => void>();
  readonly #overflowListeners = new Set<(error: UploadBacklogError) => void>();
  #queue: QueuedItem[] = [];
  /** The item being sent (or waiting to be sent again): no longer in the queue, still unsent. */
  #inFlight: QueuedItem | null = null;
  #overflow: UploadBacklogError | null = null;
  #draining: Promise<void> | null = null;
  #closed = false;
  #cutOff: CutOffError | null = null;
  #uploaded = 0;
  #droppedParts = 0;
  #failed = 0;
  #latencies: number[] = [];

  constructor(options: RenditionUploaderOptions) {
    this.#sink = options.sink;
    this.#publish = options.publish;
    this.#maxQueuedParts = options.maxQueuedParts ?? DEFAULT_MAX_QUEUED_PARTS;
    this.#maxBacklogMs = (options.maxBacklogSeconds ?? DEFAULT_MAX_BACKLOG_SECONDS) * 1000;
    this.#log = options.log ?? ((message) => console.warn(message));
  }

  /** Called once if the origin cuts this publish off; the pipeline then drops the publisher. */
  onCutOff(listener: (error: CutOffError) => void): () => void {
    this.#cutOffListeners.add(listener);
    return () => this.#cutOffListeners.delete(listener);
  }

  /**
   * Called once if the unsent inits and segments outgrow the backlog bound; the uploader has then
   * stopped, and the pipeline drops the publisher so its encoder reconnects.
   */
  onOverflow(listener: (error: UploadBacklogError) => void): () => void {
    this.#overflowListeners.add(listener);
    return () => this.#overflowListeners.delete(listener);
  }

  /**
   * Accepts items again after a cut-off: the publish is the stream's standby now (docs/deploy.md,
   * "Relayed standby"), and what it sends once it is back on air is welcome. What was queued goes.
   */
  resume(): void {
    this.#cutOff = null;
    this.#queue = [];
  }

  enqueue(item: UploadItem): void {
    if (this.#closed || this.#cutOff !== null || this.#overflow !== null) return;
    this.#queue.push({ item, enqueuedAt: performance.now() });
    if (item.kind === 'part') this.#shedParts();
    else if (this.#checkBacklog()) return;
    this.#draining ??= this.#drain().finally(() => {
      this.#draining = null;
    });
  }

  /**
   * Stops accepting items and waits for the queue to empty, at most `deadlineMs`. Whatever is
   * still queued then is abandoned. Resolves true when everything was sent.
   */
  async close(deadlineMs: number): Promise<boolean> {
    this.#closed = true;
    const draining = this.#draining;
    if (draining === null) return this.#queue.length === 0;
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), deadlineMs);
    });
    const done = await Promise.race([draining.then(() => true), expired]);
    clearTimeout(timer);
    if (!done) {
      this.#log(`upload ${this.#describe()}: close deadline passed with ${this.#queue.length} items queued`);
      this.#queue = [];
    }
    return done;
  }

  stats(): UploadStats {
    const sorted = [...this.#latencies].sort((a, b) => a - b);
    const sum = sorted.reduce((total, value) => total + value, 0);
    return {
      uploaded: this.#uploaded,
      droppedParts: this.#droppedParts,
      failed: this.#failed,
      pending: this.#queue.length,
      latencyMs: {
        count: sorted.length,
        mean: sorted.length === 0 ? 0 : sum / sorted.length,
        p50: pickPercentile(sorted, 0.5),
        p95: pickPercentile(sorted, 0.95),
        max: sorted.at(-1) ?? 0,
      },
    };
  }

  /** Drops the oldest queued parts beyond the bound (the one in flight is no longer queued). */
  #shedParts(): void {
    let parts = this.#queue.filter((queued) => queued.item.kind === 'part').length;
    if (parts <= this.#maxQueuedParts) return;
    const kept: QueuedItem[] = [];
    let dropped = 0;
    for (const queued of this.#queue) {
      if (queued.item.kind === 'part' && parts > this.#maxQueuedParts) {
        parts -= 1;
        dropped += 1;
        continue;
      }
      kept.push(queued);
    }
    this.#queue = kept;
    this.#droppedParts += dropped;
    this.#log(`upload ${this.#describe()}: origin behind, dropped ${dropped} oldest parts`);
  }

  /** Gives up (true) once the unsent inits and segments span more than the bound. */
  #checkBacklog(): boolean {
    let queuedMediaMs = 0;
    let oldest: number | null = null;
    for (const queued of [this.#inFlight, ...this.#queue]) {
      if (queued === null || queued.item.kind === 'part') continue;
      if (queued.item.kind === 'segment') queuedMediaMs += queued.item.meta.duration * 1000;
      oldest ??= queued.enqueuedAt;
    }
    const waitedMs = oldest === null ? 0 : performance.now() - oldest;
    if (queuedMediaMs <= this.#maxBacklogMs && waitedMs <= this.#maxBacklogMs) return false;
    this.#overflow = new UploadBacklogError(
      `upload ${this.#describe()}: origin unreachable, ${Math.round(queuedMediaMs / 1000)} s of segments queued, ` +
        `the oldest unsent for ${Math.round(waitedMs / 1000)} s; giving up on this publish`,
    );
    this.#queue = [];
    this.#log(this.#overflow.message);
    for (const listener of this.#overflowListeners) listener(this.#overflow);
    return true;
  }

  async #drain(): Promise<void> {
    for (let queued = this.#queue.shift(); queued !== undefined; queued = this.#queue.shift()) {
      this.#inFlight = queued;
      await this.#sendUntilSettled(queued);
      this.#inFlight = null;
      if (this.#cutOff !== null || this.#overflow !== null) return;
    }
  }

  async #sendUntilSettled(queued: QueuedItem): Promise<void> {
    for (;;) {
      try {
        await this.#send(queued.item);
        this.#uploaded += 1;
        this.#latencies.push(performance.now() - queued.enqueuedAt);
        recordUploadLatency(queued.item, performance.now() - queued.enqueuedAt);
        if (this.#latencies.length > TIMING_SAMPLES) this.#latencies.shift();
        return;
      } catch (error) {
        if (error instanceof CutOffError) {
          this.#cutOff = error;
          this.#queue = [];
          for (const listener of this.#cutOffListeners) listener(error);
          return;
        }
        const message = error instanceof Error ? error.message : String(error);
        // A rejected request (4xx) will be rejected again; a part is stale once retries are spent.
        const rejected = error instanceof IngestRequestError && error.status !== null && error.status < 500;
        if (rejected || queued.item.kind === 'part' || this.#closed) {
          this.#failed += 1;
          this.#log(`upload ${this.#describe()} ${this.#describeItem(queued.item)} failed: ${message}`);
          return;
        }
        if (this.#overflow !== null || this.#checkBacklog()) return;
        this.#log(
          `upload ${this.#describe()} ${this.#describeItem(queued.item)} still failing, retrying: ${message}`,
        );
        await new Promise((resolve) => setTimeout(resolve, RESEND_PAUSE_MS));
      }
    }
  }

  #send(item: UploadItem): Promise<void> {
    switch (item.kind) {
      case 'init':
        return this.#sink.putInit(this.#publish, item.meta, item.bytes);
      case 'part':
        return this.#sink.putPart(this.#publish, item.meta, item.bytes);
      case 'segment':
        return this.#sink.putSegment(this.#publish, item.meta, item.bytes);
    }
  }

  #describe(): string {
    return `${this.#publish.channelId}/${this.#publish.publishId}`;
  }

  #describeItem(item: UploadItem): string {
    switch (item.kind) {
      case 'init':
        return `init ${item.meta.rendition}`;
      case 'part':
        return `part ${item.meta.rendition} ${item.meta.msn}.${item.meta.part}`;
      case 'segment':
        return `segment ${item.meta.rendition} ${item.meta.msn}`;
    }
  }
}
