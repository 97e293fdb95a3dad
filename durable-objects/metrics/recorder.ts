// The reporting side of the platform metrics, one per isolate: hot paths add to in-memory deltas
// (a Map update, no I/O), and at most once per flush interval (METRICS_FLUSH_SECONDS, 10 s by
// default) the next call hands the accumulated batch to the PlatformMetrics object through the
// caller's waitUntil, after the response. So a request or an object event costs no extra round
// trip; an isolate costs the aggregate one RPC per interval while it is busy. A batch whose answer
// is lost is resent with the same sequence (the object ignores it if it had applied it); the
// deltas recorded meanwhile wait for the next batch. docs/operations.md lists the metrics.
import * as z from 'zod/mini';
import { log } from '../../common/log.ts';
import {
  type CounterName,
  type HistogramName,
  METRICS,
  type MetricDefinition,
  type MetricLabels,
  type MetricName,
  type MetricsReport,
  type ReportOutcome,
  type SeriesDelta,
} from './catalog.ts';
import { METRICS_INSTANCE } from './platform-metrics.ts';

/** The one call the recorder makes: PlatformMetrics.report on the aggregating instance. */
export interface MetricsEndpoint {
  getByName(name: string): { report(report: MetricsReport): Promise<ReportOutcome> };
}

/** What a hot path hands the recorder: where to send a due batch, and how to outlive the response. */
export interface MetricsSink {
  env: { METRICS: MetricsEndpoint };
  ctx: { waitUntil(promise: Promise<unknown>): void };
}

export const DEFAULT_FLUSH_SECONDS = 10;
/** A batch resent this many times without an answer is dropped (its deltas are lost, not doubled). */
const MAX_SEND_ATTEMPTS = 3;
/** Distinct series one isolate holds between flushes; a new one beyond it is dropped. */
export const MAX_PENDING_SERIES = 2_000;

const FlushConfig = z.object({
  METRICS_FLUSH_SECONDS: z.optional(z.coerce.number().check(z.nonnegative())),
});

const recorderLog = log.child({ component: 'metrics-recorder' });

interface PendingSeries {
  name: MetricName;
  labels: Record<string, string>;
  value: number;
  buckets: number[];
  sum: number;
}

export class MetricsRecorder {
  /** Named at the first batch: workerd allows no random values in a module's global scope. */
  #reporter: string | null;
  #pending = new Map<string, PendingSeries>();
  #sequence = 0;
  #unacknowledged: { report: MetricsReport; attempts: number } | null = null;
  #lastFlushAt = 0;
  #sending = false;

  constructor(reporter: string | null = null) {
    this.#reporter = reporter;
  }

  /**
   * Adds `value` to a counter (>= 0) or a gauge (any sign). A null sink only records (a helper deep
   * in a request, with no context at hand): the request middleware flushes for it.
   */
  add<N extends CounterName>(sink: MetricsSink | null, name: N, labels: MetricLabels<N>, value = 1): void {
    const series = this.#series(name, labels);
    if (series) series.value += value;
    if (sink) this.flushIfDue(sink);
  }

  /** Records one observation (seconds) in a histogram. */
  observe<N extends HistogramName>(
    sink: MetricsSink | null,
    name: N,
    labels: MetricLabels<N>,
    seconds: number,
  ): void {
    const definition: MetricDefinition = METRICS[name];
    const series = this.#series(name, labels);
    if (!series) return;
    const bounds = definition.buckets ?? [];
    let index = bounds.findIndex((bound) => seconds <= bound);
    if (index === -1) index = bounds.length;
    series.buckets[index] = (series.buckets[index] ?? 0) + 1;
    series.sum += seconds;
    if (sink) this.flushIfDue(sink);
  }

  /**
   * Sends a batch through sink.ctx.waitUntil when the flush interval has passed since the last one.
   * The batch is taken a microtask later, so what the same synchronous code records next rides along.
   */
  flushIfDue(sink: MetricsSink): void {
    if (this.#sending) return;
    if (this.#pending.size === 0 && !this.#unacknowledged) return;
    const parsed = FlushConfig.safeParse(sink.env);
    const intervalMs =
      (parsed.success
        ? (parsed.data.METRICS_FLUSH_SECONDS ?? DEFAULT_FLUSH_SECONDS)
        : DEFAULT_FLUSH_SECONDS) * 1000;
    const now = Date.now();
    if (now - this.#lastFlushAt < intervalMs) return;
    this.#lastFlushAt = now;
    this.#sending = true;
    sink.ctx.waitUntil(
      Promise.resolve()
        .then(() => this.#send(sink))
        .finally(() => {
          this.#sending = false;
        }),
    );
  }

  async #send(sink: MetricsSink): Promise<void> {
    const batch = this.#unacknowledged ?? { report: this.#takeReport(), attempts: 0 };
    this.#unacknowledged = batch;
    batch.attempts += 1;
    try {
      const outcome = await sink.env.METRICS.getByName(METRICS_INSTANCE).report(batch.report);
      if (outcome.kind === 'invalid') recorderLog.error('metrics_report_refused', { reason: outcome.reason });
      this.#unacknowledged = null;
    } catch (error) {
      if (batch.attempts >= MAX_SEND_ATTEMPTS) {
        this.#unacknowledged = null;
        recorderLog.warn('metrics_report_dropped', { sequence: batch.report.sequence, error });
      }
    }
  }

  #takeReport(): MetricsReport {
    const series: SeriesDelta[] = [];
    for (const pending of this.#pending.values()) {
      const isHistogram = METRICS[pending.name].type === 'histogram';
      series.push(
        isHistogram
          ? { name: pending.name, labels: pending.labels, buckets: pending.buckets, sum: pending.sum }
          : { name: pending.name, labels: pending.labels, value: pending.value },
      );
      if (series.length === 500) break;
    }
    for (const delta of series) this.#pending.delete(JSON.stringify([delta.name, delta.labels]));
    this.#sequence += 1;
    this.#reporter ??= `isolate:${crypto.randomUUID()}`;
    return { reporter: this.#reporter, sequence: this.#sequence, series };
  }

  #series(name: MetricName, labels: Record<string, string>): PendingSeries | null {
    const key = JSON.stringify([name, labels]);
    let series = this.#pending.get(key);
    if (!series) {
      if (this.#pending.size >= MAX_PENDING_SERIES) return null;
      const definition: MetricDefinition = METRICS[name];
      series = {
        name,
        labels,
        value: 0,
        buckets:
          definition.type === 'histogram' ? new Array((definition.buckets?.length ?? 0) + 1).fill(0) : [],
        sum: 0,
      };
      this.#pending.set(key, series);
    }
    return series;
  }
}

/** This isolate's recorder: the Worker and every object class in the isolate share it. */
export const metrics = new MetricsRecorder();
