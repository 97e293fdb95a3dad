// Every platform metric, in one table: its Prometheus name, type, help text, label names and (for
// histograms) bucket bounds. Reporters (the Worker's isolates and the Durable Objects) may only
// report what is listed here, with exactly these labels, so the series an operator can see, and the
// memory the aggregating object holds, are bounded by this file (docs/operations.md lists each
// metric with what it costs on the hot path). Also the wire format of a report, parsed with zod at
// the aggregating object's boundary.
import { z } from 'zod';

export type MetricType = 'counter' | 'gauge' | 'histogram';

export interface MetricDefinition {
  type: MetricType;
  help: string;
  labels: readonly string[];
  /** Upper bounds of the histogram's buckets, ascending (seconds); +Inf is implied. */
  buckets?: readonly number[];
}

/** Request and wait times: 5 ms to 30 s, tight around the LL-HLS part duration (200 ms). */
const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 1, 2, 5, 10, 30] as const;
/** Queue lag and clip jobs: 100 ms to 10 min, with 60 s (the lag alert, ops/alerts.yml) as a bound. */
const JOB_BUCKETS = [0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600] as const;

export const METRICS = {
  edgestream_http_requests_total: {
    type: 'counter',
    help: 'Worker responses by app (api, playback, ingest, chat, vod, clips, metrics, other), route pattern, method and status.',
    labels: ['app', 'route', 'method', 'status'],
  },
  edgestream_http_request_duration_seconds: {
    type: 'histogram',
    help: 'Worker time from request to response headers, by app and route pattern.',
    labels: ['app', 'route'],
    buckets: LATENCY_BUCKETS,
  },
  edgestream_part_publish_delay_seconds: {
    type: 'histogram',
    help: 'Origin part of the part publish delay: a part upload arriving at the Worker until it is in R2 and listed by the LiveStream object.',
    labels: [],
    buckets: LATENCY_BUCKETS,
  },
  edgestream_blocking_reload_wait_seconds: {
    type: 'histogram',
    help: 'Blocking playlist reloads (_HLS_msn): request until the playlist naming the part is answered, edge-cache hits included.',
    labels: [],
    buckets: LATENCY_BUCKETS,
  },
  edgestream_edge_cache_lookups_total: {
    type: 'counter',
    help: 'Edge-cache lookups on the playback path by result (hit, miss).',
    labels: ['result'],
  },
  edgestream_chat_sockets: {
    type: 'gauge',
    help: 'Chat WebSockets held by the ChatShard objects (accepted minus closed).',
    labels: [],
  },
  edgestream_chat_messages_total: {
    type: 'counter',
    help: 'Chat messages accepted by the ChatRoom objects, by channel tier (rate() gives messages/s).',
    labels: ['tier'],
  },
  edgestream_chat_room_calls_total: {
    type: 'counter',
    help: 'Calls between ChatRoom objects and their shards, by call: submit_batch (shard to room, messages pre-aggregated per round trip) and deliver (room to shard or relay, one per shard or relay group per batch).',
    labels: ['call'],
  },
  edgestream_queue_lag_seconds: {
    type: 'histogram',
    help: 'Queue consumer lag: a message enqueued until its batch reaches the consumer, by queue.',
    labels: ['queue'],
    buckets: JOB_BUCKETS,
  },
  edgestream_queue_messages_total: {
    type: 'counter',
    help: 'Queue messages delivered to the consumer, by queue (dead-letter queues included).',
    labels: ['queue'],
  },
  edgestream_clip_job_seconds: {
    type: 'histogram',
    help: 'Clip jobs: clip request enqueued until its consumer batch has finished.',
    labels: [],
    buckets: JOB_BUCKETS,
  },
  edgestream_metrics_reports_total: {
    type: 'counter',
    help: 'Metric reports received by the aggregating object, by outcome (accepted, stale, invalid).',
    labels: ['outcome'],
  },
  edgestream_metrics_series_dropped_total: {
    type: 'counter',
    help: 'Series updates dropped because the aggregating object already holds MAX_SERIES series.',
    labels: [],
  },
} as const satisfies Record<string, MetricDefinition>;

export type MetricName = keyof typeof METRICS;
type LabelsOf<N extends MetricName> = (typeof METRICS)[N]['labels'][number];
export type MetricLabels<N extends MetricName> = { [K in LabelsOf<N>]: string };
export type CounterName = {
  [N in MetricName]: (typeof METRICS)[N]['type'] extends 'histogram' ? never : N;
}[MetricName];
export type HistogramName = {
  [N in MetricName]: (typeof METRICS)[N]['type'] extends 'histogram' ? N : never;
}[MetricName];

/** Looks a definition up by a name read off the wire. */
export function findMetric(name: string): MetricDefinition | undefined {
  return Object.hasOwn(METRICS, name) ? (METRICS as Record<string, MetricDefinition>)[name] : undefined;
}

/** The most series one report may carry, and the longest label value (route patterns fit). */
export const MAX_SERIES_PER_REPORT = 500;
export const MAX_LABEL_VALUE_LENGTH = 160;

const LabelValue = z.string().max(MAX_LABEL_VALUE_LENGTH);

/** One series' delta: a counter or gauge change, or a histogram's new observations. */
export const SeriesDelta = z.object({
  name: z.string().max(100),
  labels: z.record(z.string().max(40), LabelValue),
  /** Counter (>= 0) or gauge (any sign) delta. */
  value: z.number().finite().optional(),
  /** Histogram: observations per bucket (not cumulative), one more than the bounds (+Inf). */
  buckets: z.array(z.number().int().nonnegative()).max(32).optional(),
  /** Histogram: sum of the new observations. */
  sum: z.number().finite().optional(),
});
export type SeriesDelta = z.infer<typeof SeriesDelta>;

/**
 * A batch of deltas from one reporter. `sequence` rises by one per batch a reporter sends; the
 * aggregating object applies a batch only if its sequence is above the last one applied for that
 * reporter, so a batch resent after a lost answer is never counted twice.
 */
export const MetricsReport = z.object({
  reporter: z.string().min(1).max(100),
  sequence: z.number().int().positive(),
  series: z.array(SeriesDelta).max(MAX_SERIES_PER_REPORT),
});
export type MetricsReport = z.infer<typeof MetricsReport>;

export type ReportOutcome =
  | { kind: 'accepted'; series: number }
  | { kind: 'stale'; lastSequence: number }
  | { kind: 'invalid'; reason: string };
