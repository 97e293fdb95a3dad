// The aggregation the PlatformMetrics object does, as plain code over plain data: validate a
// report against the catalog, add its deltas to the running series, and render the whole set as
// Prometheus text exposition (version 0.0.4: `# HELP`, `# TYPE`, one line per sample, histograms as
// cumulative `_bucket{le=...}` plus `_sum` and `_count`). The object adds storage and sequencing.
import {
  findMetric,
  METRICS,
  type MetricDefinition,
  type MetricsReport,
  type SeriesDelta,
} from './catalog.ts';

/** The most series the aggregate holds; beyond it, new series are dropped and counted. */
export const MAX_SERIES = 10_000;

export interface SeriesState {
  name: string;
  labels: Record<string, string>;
  /** Counter or gauge value; for a histogram, the count of observations. */
  value: number;
  /** Histogram only: observations per bucket (not cumulative), the last one +Inf. */
  buckets: number[];
  /** Histogram only: sum of observations. */
  sum: number;
}

/** A stable key for a series: its name and its labels in catalog order. */
export function toSeriesKey(
  name: string,
  labels: Record<string, string>,
  definition: MetricDefinition,
): string {
  return JSON.stringify([name, ...definition.labels.map((label) => labels[label] ?? '')]);
}

/** Why a delta does not fit the catalog, or null when it does. */
export function checkDelta(delta: SeriesDelta): string | null {
  const definition = findMetric(delta.name);
  if (!definition) return `unknown metric ${delta.name}`;
  const given = Object.keys(delta.labels).sort();
  const expected = [...definition.labels].sort();
  if (given.length !== expected.length || given.some((label, i) => label !== expected[i]))
    return `${delta.name} takes labels [${expected.join(', ')}]`;
  if (definition.type === 'histogram') {
    const bounds = definition.buckets?.length ?? 0;
    if (delta.buckets?.length !== bounds + 1 || delta.sum === undefined)
      return `${delta.name} needs ${bounds + 1} bucket counts and a sum`;
    return null;
  }
  if (delta.value === undefined) return `${delta.name} needs a value`;
  if (definition.type === 'counter' && delta.value < 0) return `${delta.name} is a counter: deltas are >= 0`;
  return null;
}

/** Why a report cannot be applied (the first bad series), or null. */
export function checkReport(report: MetricsReport): string | null {
  for (const delta of report.series) {
    const problem = checkDelta(delta);
    if (problem) return problem;
  }
  return null;
}

/**
 * Adds checked deltas to `series` (keyed by toSeriesKey) and returns the keys it touched. A delta
 * for a new series when MAX_SERIES are held is dropped and counted in `dropped`.
 */
export function applyDeltas(
  series: Map<string, SeriesState>,
  deltas: readonly SeriesDelta[],
): { touched: Set<string>; dropped: number } {
  const touched = new Set<string>();
  let dropped = 0;
  for (const delta of deltas) {
    const definition = findMetric(delta.name);
    if (!definition) continue;
    const key = toSeriesKey(delta.name, delta.labels, definition);
    let state = series.get(key);
    if (!state) {
      if (series.size >= MAX_SERIES) {
        dropped += 1;
        continue;
      }
      state = {
        name: delta.name,
        labels: delta.labels,
        value: 0,
        buckets:
          definition.type === 'histogram' ? new Array((definition.buckets?.length ?? 0) + 1).fill(0) : [],
        sum: 0,
      };
      series.set(key, state);
    }
    if (definition.type === 'histogram') {
      const counts = delta.buckets ?? [];
      counts.forEach((count, i) => {
        state.buckets[i] = (state.buckets[i] ?? 0) + count;
        state.value += count;
      });
      state.sum += delta.sum ?? 0;
    } else {
      state.value += delta.value ?? 0;
    }
    touched.add(key);
  }
  return { touched, dropped };
}

/** A label value as the exposition format writes it: backslash, double quote and newline escaped. */
export function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function formatLabels(labels: readonly (readonly [string, string])[]): string {
  if (labels.length === 0) return '';
  return `{${labels.map(([name, value]) => `${name}="${escapeLabelValue(value)}"`).join(',')}}`;
}

function formatNumber(value: number): string {
  if (value === Number.POSITIVE_INFINITY) return '+Inf';
  return Number.isInteger(value) ? String(value) : String(Number(value.toPrecision(12)));
}

/** One metric family (HELP, TYPE, samples) from the series of that name. */
function renderFamily(name: string, definition: MetricDefinition, states: readonly SeriesState[]): string[] {
  const lines = [`# HELP ${name} ${definition.help}`, `# TYPE ${name} ${definition.type}`];
  for (const state of states) {
    const labels = definition.labels.map((label) => [label, state.labels[label] ?? ''] as const);
    if (definition.type !== 'histogram') {
      lines.push(`${name}${formatLabels(labels)} ${formatNumber(state.value)}`);
      continue;
    }
    let cumulative = 0;
    const bounds = [...(definition.buckets ?? []), Number.POSITIVE_INFINITY];
    bounds.forEach((bound, i) => {
      cumulative += state.buckets[i] ?? 0;
      lines.push(`${name}_bucket${formatLabels([...labels, ['le', formatNumber(bound)]])} ${cumulative}`);
    });
    lines.push(`${name}_sum${formatLabels(labels)} ${formatNumber(state.sum)}`);
    lines.push(`${name}_count${formatLabels(labels)} ${state.value}`);
  }
  return lines;
}

/** Gauges computed at scrape time (from D1), rendered beside the aggregated series. */
export interface ScrapeGauge {
  name: string;
  help: string;
  labels?: Record<string, string>;
  value: number;
}

/** The text exposition of every series, catalog order, then the scrape-time gauges. */
export function renderExposition(series: Iterable<SeriesState>, gauges: readonly ScrapeGauge[] = []): string {
  const byName = new Map<string, SeriesState[]>();
  for (const state of series) {
    const list = byName.get(state.name) ?? [];
    list.push(state);
    byName.set(state.name, list);
  }
  const lines: string[] = [];
  for (const [name, definition] of Object.entries(METRICS) as [string, MetricDefinition][]) {
    const states = byName.get(name);
    if (states) lines.push(...renderFamily(name, definition, states));
  }
  const gaugeNames = new Set<string>();
  for (const gauge of gauges) {
    if (!gaugeNames.has(gauge.name)) {
      gaugeNames.add(gauge.name);
      lines.push(`# HELP ${gauge.name} ${gauge.help}`, `# TYPE ${gauge.name} gauge`);
    }
    lines.push(
      `${gauge.name}${formatLabels(Object.entries(gauge.labels ?? {}))} ${formatNumber(gauge.value)}`,
    );
  }
  return `${lines.join('\n')}\n`;
}
