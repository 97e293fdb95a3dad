// The transcoder node's Prometheus metrics (prom-client), served as `GET /metrics` on the
// health/stats port beside `/healthz` and `/stats`. Almost everything is read at scrape time from
// what the node already keeps (each publish's PublishStats, each pipeline's PipelineStats, the
// encode capacity), so the media path pays nothing for it; the one hot-path hook is the upload
// latency histogram, one observe() per finished upload. docs/operations.md lists every metric.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { EncodeCapacity } from '../ffmpeg/ladder.ts';
import type { PipelineStats } from '../pipeline.ts';
import type { PublishStats } from '../rtmp/publish-session.ts';

/** RTMPS publishes count as rtmp: the session does not say which listener took it. */
export type IngestProtocol = 'rtmp' | 'whip' | 'srt';

/** What the metrics read of one publish: its session's counters and its pipeline's. */
export interface TrackedSession {
  readonly grant: { stream_id: string };
  readonly stats: PublishStats;
  onClose(listener: () => void): () => void;
}
export interface TrackedPipeline {
  stats(): PipelineStats;
}

interface Tracked {
  protocol: IngestProtocol;
  session: TrackedSession;
  pipeline: TrackedPipeline;
  /** What earlier scrapes already counted, so counters only ever add the difference. */
  countedBytes: number;
  countedRestarts: number;
  countedDropped: number;
  lastScrape: { at: number; bytes: number };
}

/** Upload times: 5 ms to 30 s around the 200 ms part (docs/benchmarks.md, part publish delay). */
const UPLOAD_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 1, 2, 5, 10, 30];

/** One finished upload's latency (enqueue → origin answered), recorded by the rendition uploader. */
const uploadLatency = new Histogram({
  name: 'transcoder_upload_latency_seconds',
  help: 'Upload latency per rendition and kind: the packager emitted it until the origin answered (listed).',
  labelNames: ['rendition', 'kind'] as const,
  buckets: UPLOAD_BUCKETS,
  registers: [],
});

/** The rendition uploader's hook: one histogram observe, no I/O. */
export function recordUploadLatency(item: { kind: string; meta: { rendition: string } }, ms: number): void {
  uploadLatency.observe({ rendition: item.meta.rendition, kind: item.kind }, ms / 1000);
}

export interface TranscoderMetricsOptions {
  capacity: () => EncodeCapacity;
  encoder: string;
  /** FLEET_NODE_ID; a node outside a fleet is labelled node="local". */
  nodeId: string | undefined;
  /** Node process metrics (memory, CPU, event-loop lag). Default true; tests turn them off. */
  processMetrics?: boolean;
  now?: () => number;
}

export class TranscoderMetrics {
  readonly registry = new Registry();
  readonly #tracked = new Set<Tracked>();
  readonly #now: () => number;
  readonly #sessionsTotal: Counter<'protocol'>;

  constructor(options: TranscoderMetricsOptions) {
    this.#now = options.now ?? Date.now;
    const registers = [this.registry];
    this.registry.setDefaultLabels({ node: options.nodeId ?? 'local' });
    if (options.processMetrics ?? true)
      collectDefaultMetrics({ register: this.registry, prefix: 'transcoder_' });
    this.registry.registerMetric(uploadLatency);
    const tracked = () => [...this.#tracked];
    const sessions = new Counter({
      name: 'transcoder_ingest_sessions_total',
      help: 'Publishes accepted by this node, by protocol.',
      labelNames: ['protocol'] as const,
      registers,
    });
    this.#sessionsTotal = sessions;
    new Gauge({
      name: 'transcoder_ingest_sessions',
      help: 'Publishes live on this node now, by protocol.',
      labelNames: ['protocol'] as const,
      registers,
      collect() {
        this.reset();
        for (const protocol of ['rtmp', 'whip', 'srt'] as const) this.set({ protocol }, 0);
        for (const t of tracked()) this.inc({ protocol: t.protocol });
      },
    });
    new Counter({
      name: 'transcoder_ingest_bytes_total',
      help: 'Source bytes received from publishers, by protocol (rate() × 8 = bits/s in).',
      labelNames: ['protocol'] as const,
      registers,
      collect() {
        for (const t of tracked()) {
          const bytes = t.session.stats.bytesIn;
          if (bytes > t.countedBytes) this.inc({ protocol: t.protocol }, bytes - t.countedBytes);
          t.countedBytes = bytes;
        }
      },
    });
    const now = this.#now;
    new Gauge({
      name: 'transcoder_source_bitrate_bps',
      help: 'Source bits/s per stream over the interval since the previous scrape.',
      labelNames: ['stream_id', 'protocol'] as const,
      registers,
      collect() {
        this.reset();
        const at = now();
        for (const t of tracked()) {
          const bytes = t.session.stats.bytesIn;
          const seconds = (at - t.lastScrape.at) / 1000;
          if (seconds > 0) {
            const bps = ((bytes - t.lastScrape.bytes) * 8) / seconds;
            this.set({ stream_id: t.session.grant.stream_id, protocol: t.protocol }, Math.round(bps));
          }
          t.lastScrape = { at, bytes };
        }
      },
    });
    new Gauge({
      name: 'transcoder_source_fps',
      help: 'Source frame rate per stream (onMetaData, else the SPS); absent until known.',
      labelNames: ['stream_id'] as const,
      registers,
      collect() {
        this.reset();
        for (const t of tracked()) {
          const fps = t.session.stats.frameRate;
          if (fps !== null) this.set({ stream_id: t.session.grant.stream_id }, fps);
        }
      },
    });
    new Gauge({
      name: 'transcoder_encode_speed',
      help: "ffmpeg's encoding speed per stream (1.0 = real time; one ffmpeg writes every rendition of the stream, so each rendition runs at this speed).",
      labelNames: ['stream_id', 'renditions'] as const,
      registers,
      collect() {
        this.reset();
        for (const t of tracked()) {
          const stats = t.pipeline.stats();
          if (stats.ffmpegSpeed !== null)
            this.set(
              { stream_id: stats.streamId, renditions: stats.renditions.join(',') },
              stats.ffmpegSpeed,
            );
        }
      },
    });
    new Counter({
      name: 'transcoder_ffmpeg_restarts_total',
      help: 'ffmpeg runs restarted after a crash or a stall (each run after the first of a publish).',
      registers,
      collect() {
        for (const t of tracked()) {
          const restarts = Math.max(0, t.pipeline.stats().ffmpegRuns - 1);
          if (restarts > t.countedRestarts) this.inc(restarts - t.countedRestarts);
          t.countedRestarts = restarts;
        }
      },
    });
    new Gauge({
      name: 'transcoder_upload_backlog',
      help: 'Uploads waiting for the origin, per rendition (parts, inits and segments).',
      labelNames: ['rendition'] as const,
      registers,
      collect() {
        this.reset();
        const backlog = new Map<string, number>();
        for (const t of tracked()) {
          for (const [rendition, upload] of Object.entries(t.pipeline.stats().uploads)) {
            backlog.set(rendition, (backlog.get(rendition) ?? 0) + (upload?.pending ?? 0));
          }
        }
        for (const [rendition, pending] of backlog) this.set({ rendition }, pending);
      },
    });
    new Counter({
      name: 'transcoder_upload_dropped_parts_total',
      help: 'Stale parts shed because the origin fell behind (inits and segments are never shed).',
      registers,
      collect() {
        for (const t of tracked()) {
          let dropped = 0;
          for (const upload of Object.values(t.pipeline.stats().uploads))
            dropped += upload?.droppedParts ?? 0;
          if (dropped > t.countedDropped) this.inc(dropped - t.countedDropped);
          t.countedDropped = dropped;
        }
      },
    });
    new Gauge({
      name: 'transcoder_encode_slots_used',
      help: 'Encoded video renditions running on this node.',
      registers,
      collect() {
        this.set(options.capacity().activeEncodes);
      },
    });
    new Gauge({
      name: 'transcoder_encode_slots',
      help: 'Encoded video renditions this node can run in real time (MAX_ENCODES).',
      registers,
      collect() {
        this.set(options.capacity().maxEncodes);
      },
    });
    new Gauge({
      name: 'transcoder_info',
      help: 'This node: its video encoder (libx264 or h264_nvenc).',
      labelNames: ['encoder'] as const,
      registers,
    }).set({ encoder: options.encoder }, 1);
  }

  /** Follows one publish until its session closes. */
  track(protocol: IngestProtocol, session: TrackedSession, pipeline: TrackedPipeline): void {
    const tracked: Tracked = {
      protocol,
      session,
      pipeline,
      countedBytes: 0,
      countedRestarts: 0,
      countedDropped: 0,
      lastScrape: { at: this.#now(), bytes: session.stats.bytesIn },
    };
    this.#tracked.add(tracked);
    this.#sessionsTotal.inc({ protocol });
    session.onClose(() => this.#tracked.delete(tracked));
  }

  /** Answers `GET /metrics`; returns false for any other path. */
  handle(req: IncomingMessage, res: ServerResponse): boolean {
    if (new URL(req.url ?? '/', 'http://transcoder').pathname !== '/metrics') return false;
    this.registry.metrics().then(
      (body) => {
        res.writeHead(200, { 'content-type': this.registry.contentType });
        res.end(body);
      },
      (error: unknown) => {
        res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { code: 'internal', message: String(error) } }));
      },
    );
    return true;
  }
}
