// PlatformMetrics: the one object every reporter (the Worker's isolates, the ChatShard and ChatRoom
// objects) sends its metric deltas to, in batches, and that `/metrics` renders. Each reporter
// numbers its batches; a batch whose sequence is not above the last one applied for its reporter is
// ignored, so a batch resent after a lost answer is never counted twice. Series and sequences live
// in SQLite, so an eviction loses nothing; everything is bounded (MAX_SERIES series, MAX_REPORTERS
// reporters, forgotten after REPORTER_TTL_MS of silence). docs/operations.md has the design.
import { DurableObject } from 'cloudflare:workers';
import * as z from 'zod/mini';
import { log } from '../../common/log.ts';
import {
  applyDeltas,
  checkReport,
  renderExposition,
  type ScrapeGauge,
  type SeriesState,
} from './aggregate.ts';
import { MetricsReport, type ReportOutcome } from './catalog.ts';

/** The instance name every reporter and the scrape address. */
export const METRICS_INSTANCE = 'global';
/** Reporters remembered at most, and how long a silent one is (its isolate or object is gone). */
export const MAX_REPORTERS = 10_000;
export const REPORTER_TTL_MS = 60 * 60 * 1000;

const SeriesRow = z.object({
  key: z.string(),
  name: z.string(),
  labels: z.string(),
  value: z.number(),
  buckets: z.string(),
  sum: z.number(),
});
const ReporterRow = z.object({ id: z.string(), sequence: z.number(), seen_at: z.number() });
const Labels = z.record(z.string(), z.string());
const Buckets = z.array(z.number());

const metricsLog = log.child({ component: 'platform-metrics' });

export class PlatformMetrics extends DurableObject<Env> {
  #series = new Map<string, SeriesState>();
  #reporters = new Map<string, { sequence: number; seenAt: number }>();

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    void ctx.blockConcurrencyWhile(async () => {
      this.ctx.storage.sql.exec(`
        CREATE TABLE IF NOT EXISTS series (
          key TEXT PRIMARY KEY, name TEXT NOT NULL, labels TEXT NOT NULL, value REAL NOT NULL,
          buckets TEXT NOT NULL, sum REAL NOT NULL
        );
        CREATE TABLE IF NOT EXISTS reporters (id TEXT PRIMARY KEY, sequence INTEGER NOT NULL, seen_at INTEGER NOT NULL);
      `);
      for (const raw of this.ctx.storage.sql.exec(
        'SELECT key, name, labels, value, buckets, sum FROM series',
      )) {
        const row = SeriesRow.parse(raw);
        this.#series.set(row.key, {
          name: row.name,
          labels: Labels.parse(JSON.parse(row.labels)),
          value: row.value,
          buckets: Buckets.parse(JSON.parse(row.buckets)),
          sum: row.sum,
        });
      }
      for (const raw of this.ctx.storage.sql.exec('SELECT id, sequence, seen_at FROM reporters')) {
        const row = ReporterRow.parse(raw);
        this.#reporters.set(row.id, { sequence: row.sequence, seenAt: row.seen_at });
      }
    });
  }

  /** Applies one reporter's batch of deltas unless its sequence was already applied. */
  async report(input: unknown): Promise<ReportOutcome> {
    const parsed = MetricsReport.safeParse(input);
    if (!parsed.success) return this.#count({ kind: 'invalid', reason: 'not a metrics report' });
    const report = parsed.data;
    const problem = checkReport(report);
    if (problem) {
      metricsLog.warn('metrics_report_invalid', { reporter: report.reporter, reason: problem });
      return this.#count({ kind: 'invalid', reason: problem });
    }
    const now = Date.now();
    const known = this.#reporters.get(report.reporter);
    if (known && report.sequence <= known.sequence)
      return this.#count({ kind: 'stale', lastSequence: known.sequence });
    const { touched, dropped } = applyDeltas(this.#series, report.series);
    if (dropped > 0)
      applyDeltas(this.#series, [
        { name: 'edgestream_metrics_series_dropped_total', labels: {}, value: dropped },
      ]);
    this.#reporters.delete(report.reporter);
    this.#reporters.set(report.reporter, { sequence: report.sequence, seenAt: now });
    this.ctx.storage.transactionSync(() => {
      for (const key of touched) this.#persistSeries(key);
      this.ctx.storage.sql.exec(
        'INSERT INTO reporters (id, sequence, seen_at) VALUES (?, ?, ?) ON CONFLICT (id) DO UPDATE SET sequence = excluded.sequence, seen_at = excluded.seen_at',
        report.reporter,
        report.sequence,
        now,
      );
      this.#forgetReporters(now);
    });
    return this.#count({ kind: 'accepted', series: touched.size });
  }

  /** The text exposition of every series, with the scrape-time gauges the Worker read from D1. */
  async render(gauges: ScrapeGauge[]): Promise<string> {
    return renderExposition(this.#series.values(), gauges);
  }

  /** Counts the outcome of a report in the aggregate itself (persisted with the next accepted one). */
  #count(outcome: ReportOutcome): ReportOutcome {
    const { touched } = applyDeltas(this.#series, [
      { name: 'edgestream_metrics_reports_total', labels: { outcome: outcome.kind }, value: 1 },
    ]);
    for (const key of touched) this.#persistSeries(key);
    return outcome;
  }

  #persistSeries(key: string): void {
    const state = this.#series.get(key);
    if (!state) return;
    this.ctx.storage.sql.exec(
      'INSERT INTO series (key, name, labels, value, buckets, sum) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value, buckets = excluded.buckets, sum = excluded.sum',
      key,
      state.name,
      JSON.stringify(state.labels),
      state.value,
      JSON.stringify(state.buckets),
      state.sum,
    );
  }

  /** Drops reporters silent for REPORTER_TTL_MS, then the oldest beyond MAX_REPORTERS (Map order is last-seen order). */
  #forgetReporters(now: number): void {
    for (const [id, reporter] of this.#reporters) {
      const expired = now - reporter.seenAt > REPORTER_TTL_MS;
      if (!expired && this.#reporters.size <= MAX_REPORTERS) break;
      this.#reporters.delete(id);
      this.ctx.storage.sql.exec('DELETE FROM reporters WHERE id = ?', id);
    }
  }
}
