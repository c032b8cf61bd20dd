// Interval statistics of the load generator: percentiles with linear interpolation between closest
// ranks (what the original computed), and jitter as the mean absolute difference of consecutive RTTs.

export function percentile(sorted: number[], p: number): number {
  if (!sorted.length) return NaN;
  const rank = (p / 100) * (sorted.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - lo);
}

export interface RttSummary { avg: number; p50: number; p95: number; p99: number; max: number; count: number }

export function summarize(samples: number[]): RttSummary {
  const s = [...samples].sort((a, b) => a - b);
  const n = s.length;
  return {
    avg: n ? s.reduce((a, b) => a + b, 0) / n : NaN,
    p50: percentile(s, 50), p95: percentile(s, 95), p99: percentile(s, 99),
    max: n ? s[n - 1] : NaN, count: n,
  };
}

export const meanAbs = (diffs: number[]): number => (diffs.length ? diffs.reduce((a, b) => a + Math.abs(b), 0) / diffs.length : NaN);
