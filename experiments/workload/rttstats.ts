// Interval statistics of the load generator, from lib/stats so the RTT percentiles in metrics.csv
// follow the one definition the analysis uses (R-7, what the original computed too). A Prometheus
// gauge has no "no sample": an empty interval is NaN, which the collector writes as an empty field.
import { describe } from '../../lib/analysis/stats.ts';

export interface RttSummary {
  avg: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  count: number;
}

export function summarize(samples: number[]): RttSummary {
  const d = describe(samples);
  return { avg: d.mean ?? NaN, p50: d.p50 ?? NaN, p95: d.p95 ?? NaN, p99: d.p99 ?? NaN, max: d.max ?? NaN, count: d.n };
}

/** Jitter: the mean absolute difference of consecutive RTTs. */
export const meanAbs = (diffs: number[]): number =>
  diffs.length ? diffs.reduce((a, b) => a + Math.abs(b), 0) / diffs.length : NaN;
