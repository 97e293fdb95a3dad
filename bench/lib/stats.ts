// Percentiles and summaries of measured samples. Nearest-rank percentiles: every figure printed is
// a value that was really measured, never an interpolation between two.

export interface Summary {
  count: number;
  min: number | null;
  mean: number | null;
  p50: number | null;
  p95: number | null;
  p99: number | null;
  max: number | null;
}

/** Nearest-rank percentile of ascending `sorted` values; null when there are none. */
export function computePercentile(sorted: readonly number[], percent: number): number | null {
  if (sorted.length === 0) return null;
  const rank = Math.ceil((percent / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))] ?? null;
}

export function summarize(values: readonly number[]): Summary {
  const sorted = values.filter((value) => Number.isFinite(value)).sort((a, b) => a - b);
  const sum = sorted.reduce((total, value) => total + value, 0);
  return {
    count: sorted.length,
    min: sorted[0] ?? null,
    mean: sorted.length === 0 ? null : sum / sorted.length,
    p50: computePercentile(sorted, 50),
    p95: computePercentile(sorted, 95),
    p99: computePercentile(sorted, 99),
    max: sorted.at(-1) ?? null,
  };
}

/** A number for a table cell: fixed decimals, or '-' when nothing was measured. */
export function formatNumber(value: number | null | undefined, decimals = 0): string {
  return value === null || value === undefined || !Number.isFinite(value) ? '-' : value.toFixed(decimals);
}

/** Rounds every number of a summary for the JSON results (milliseconds do not need 12 decimals). */
export function roundSummary(summary: Summary, decimals = 1): Summary {
  const round = (value: number | null) =>
    value === null ? null : Math.round(value * 10 ** decimals) / 10 ** decimals;
  return {
    count: summary.count,
    min: round(summary.min),
    mean: round(summary.mean),
    p50: round(summary.p50),
    p95: round(summary.p95),
    p99: round(summary.p99),
    max: round(summary.max),
  };
}
