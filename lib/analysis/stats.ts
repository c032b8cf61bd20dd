// Every statistic that summary.json, report.html and compare print comes from here, so one
// definition of "p95" holds across the project.
//
// Percentile definition (the only one used): linear interpolation between closest ranks,
// R-7 / numpy "linear" / simple-statistics quantileSorted. For sorted x of length n and
// probability p in [0,1]: h = (n-1)·p, result = x[floor h] + (h - floor h)·(x[ceil h] - x[floor h]).
// Standard deviation is the sample sd (n-1 denominator); it is null for fewer than 2 values.
import {
  errorFunction,
  max as ssMax,
  mean as ssMean,
  min as ssMin,
  quantileSorted,
  sampleStandardDeviation,
} from 'simple-statistics';

export interface Describe {
  n: number;
  mean: number | null;
  sd: number | null;
  min: number | null;
  max: number | null;
  p50: number | null;
  p95: number | null;
  p99: number | null;
}

/** Keeps only finite numbers: empty CSV fields / failed scrapes arrive as null or NaN. */
export function finite(values: ReadonlyArray<number | null | undefined>): number[] {
  return values.filter((v): v is number => typeof v === 'number' && Number.isFinite(v));
}

export function sortedCopy(values: readonly number[]): number[] {
  return [...values].sort((a, b) => a - b);
}

/** R-7 percentile of unsorted values; p in [0,1]. Null for an empty sample. */
export function percentile(values: readonly number[], p: number): number | null {
  if (!(p >= 0 && p <= 1)) throw new Error(`percentile: p must be within [0,1], got ${p}`);
  const xs = sortedCopy(finite(values));
  return xs.length === 0 ? null : quantileSorted(xs, p);
}

export function mean(values: readonly number[]): number | null {
  const xs = finite(values);
  return xs.length === 0 ? null : ssMean(xs);
}

export function sd(values: readonly number[]): number | null {
  const xs = finite(values);
  return xs.length < 2 ? null : sampleStandardDeviation(xs);
}

export function describe(values: ReadonlyArray<number | null | undefined>): Describe {
  const xs = sortedCopy(finite(values));
  if (xs.length === 0) return { n: 0, mean: null, sd: null, min: null, max: null, p50: null, p95: null, p99: null };
  return {
    n: xs.length,
    mean: ssMean(xs),
    sd: xs.length < 2 ? null : sampleStandardDeviation(xs),
    min: ssMin(xs),
    max: ssMax(xs),
    p50: quantileSorted(xs, 0.5),
    p95: quantileSorted(xs, 0.95),
    p99: quantileSorted(xs, 0.99),
  };
}

/** Empirical CDF as steps: for each distinct value x, the fraction of the sample ≤ x. */
export function ecdf(values: readonly number[]): Array<{ x: number; p: number }> {
  const xs = sortedCopy(finite(values));
  const out: Array<{ x: number; p: number }> = [];
  for (let i = 0; i < xs.length; i++) {
    if (i + 1 < xs.length && xs[i + 1] === xs[i]) continue;
    out.push({ x: xs[i], p: (i + 1) / xs.length });
  }
  return out;
}

/** mulberry32: tiny seeded PRNG so bootstrap CIs are identical from run to run. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface Interval {
  low: number;
  high: number;
  level: number;
  resamples: number;
  seed: number;
}

/**
 * Percentile-bootstrap CI of the median: `resamples` resamples with replacement drawn with
 * mulberry32(seed); the CI bounds are the R-7 percentiles (1-level)/2 and (1+level)/2 of the
 * resampled medians. Null for an empty sample.
 */
export function bootstrapMedianCI(
  values: readonly number[],
  opts: { level?: number; resamples?: number; seed?: number } = {},
): Interval | null {
  const level = opts.level ?? 0.95;
  const resamples = opts.resamples ?? 2000;
  const seed = opts.seed ?? 42;
  if (!(level > 0 && level < 1)) throw new Error(`bootstrapMedianCI: level must be within (0,1), got ${level}`);
  if (!(Number.isInteger(resamples) && resamples > 0))
    throw new Error(`bootstrapMedianCI: resamples must be a positive integer, got ${resamples}`);
  const xs = finite(values);
  if (xs.length === 0) return null;
  const rand = seededRandom(seed);
  const medians = new Array<number>(resamples);
  const buf = new Array<number>(xs.length);
  for (let r = 0; r < resamples; r++) {
    for (let i = 0; i < xs.length; i++) buf[i] = xs[Math.floor(rand() * xs.length)];
    buf.sort((a, b) => a - b);
    medians[r] = quantileSorted(buf, 0.5);
  }
  medians.sort((a, b) => a - b);
  return {
    low: quantileSorted(medians, (1 - level) / 2),
    high: quantileSorted(medians, (1 + level) / 2),
    level,
    resamples,
    seed,
  };
}

export interface MannWhitney {
  u: number; // U of the first sample (number of pairs with a > b, ties count 1/2)
  uMin: number;
  z: number | null; // null when the exact distribution was used
  p: number; // two-sided
  method: 'exact' | 'normal';
  n1: number;
  n2: number;
}

/** Standard normal CDF from simple-statistics' erf (|error| < 1.2e-7). */
export function normalCdf(z: number): number {
  return 0.5 * (1 + errorFunction(z / Math.SQRT2));
}

/** Midranks (1-based) of the pooled sample, and Σ(t³ - t) over groups of ties. */
function midranks(pooled: number[]): { ranks: number[]; tieTerm: number } {
  const order = pooled.map((v, i) => [v, i] as const).sort((a, b) => a[0] - b[0]);
  const ranks = new Array<number>(pooled.length);
  let tieTerm = 0;
  for (let i = 0; i < order.length; ) {
    let j = i;
    while (j + 1 < order.length && order[j + 1][0] === order[i][0]) j++;
    const rank = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) ranks[order[k][1]] = rank;
    const t = j - i + 1;
    tieTerm += t * t * t - t;
    i = j + 1;
  }
  return { ranks, tieTerm };
}

/** Number of arrangements giving each U value, for samples of sizes m and n (no ties). */
function exactUCounts(m: number, n: number): number[] {
  // f[i][j][u]: arrangements of i + j values with U = u; recurrence on who holds the largest value.
  let prev: number[][] = [];
  for (let j = 0; j <= n; j++) prev.push([1]);
  for (let i = 1; i <= m; i++) {
    const cur: number[][] = [[1]];
    for (let j = 1; j <= n; j++) {
      const size = i * j + 1;
      const arr = new Array<number>(size).fill(0);
      const a = prev[j]; // largest from sample 1: it beats all j of sample 2
      for (let u = 0; u < a.length; u++) arr[u + j] += a[u];
      const b = cur[j - 1]; // largest from sample 2: adds nothing
      for (let u = 0; u < b.length; u++) arr[u] += b[u];
      cur.push(arr);
    }
    prev = cur;
  }
  return prev[n];
}

/**
 * Two-sided Mann-Whitney U test. Exact null distribution when there are no ties and
 * n1·n2 ≤ 400; otherwise the normal approximation with tie correction and a 0.5
 * continuity correction (as scipy.stats.mannwhitneyu with method="asymptotic").
 */
export function mannWhitneyU(a: readonly number[], b: readonly number[]): MannWhitney {
  const xs = finite(a);
  const ys = finite(b);
  const n1 = xs.length;
  const n2 = ys.length;
  if (n1 === 0 || n2 === 0) throw new Error(`mannWhitneyU needs two non-empty samples, got sizes ${n1} and ${n2}`);
  const { ranks, tieTerm } = midranks([...xs, ...ys]);
  let r1 = 0;
  for (let i = 0; i < n1; i++) r1 += ranks[i];
  const u = r1 - (n1 * (n1 + 1)) / 2;
  const uMin = Math.min(u, n1 * n2 - u);
  if (tieTerm === 0 && n1 * n2 <= 400) {
    const counts = exactUCounts(n1, n2);
    const total = counts.reduce((s, c) => s + c, 0);
    let tail = 0;
    for (let k = 0; k <= Math.floor(uMin + 1e-9); k++) tail += counts[k];
    return { u, uMin, z: null, p: Math.min(1, (2 * tail) / total), method: 'exact', n1, n2 };
  }
  const n = n1 + n2;
  const mu = (n1 * n2) / 2;
  const variance = ((n1 * n2) / 12) * (n + 1 - tieTerm / (n * (n - 1)));
  if (variance <= 0) return { u, uMin, z: 0, p: 1, method: 'normal', n1, n2 };
  const z = (Math.abs(u - mu) - 0.5) / Math.sqrt(variance);
  const zc = Math.max(0, z);
  return { u, uMin, z: zc, p: Math.min(1, 2 * (1 - normalCdf(zc))), method: 'normal', n1, n2 };
}

export interface LinearFit {
  n: number;
  slope: number;
  intercept: number;
  /** Standard error of the slope (null for fewer than 3 points: no residual degree of freedom). */
  slopeSe: number | null;
  /** 95% CI of the slope from Student's t with n-2 degrees of freedom (null below 3 points). */
  slopeCi95: { low: number; high: number } | null;
  /** Sample sd of the residuals around the line (n-2 denominator). */
  residualSd: number | null;
}

// Student's t quantile 0.975 for df 1..30 (standard table); beyond, the Cornish–Fisher expansion
// around the normal quantile is within 0.05% of it.
const T975 = [
  12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145, 2.131, 2.12, 2.11, 2.101,
  2.093, 2.086, 2.08, 2.074, 2.069, 2.064, 2.06, 2.056, 2.052, 2.048, 2.045, 2.042,
];
function t975(df: number): number {
  if (df <= T975.length) return T975[df - 1];
  const z = 1.959963984540054;
  return z + (z ** 3 + z) / (4 * df) + (5 * z ** 5 + 16 * z ** 3 + 3 * z) / (96 * df ** 2);
}

/** Ordinary least squares y = intercept + slope·x over the pairs where both are finite. */
export function linearFit(xs: readonly number[], ys: readonly number[]): LinearFit | null {
  if (xs.length !== ys.length) throw new Error(`linearFit: ${xs.length} x values but ${ys.length} y values`);
  const pts = xs.map((x, i) => [x, ys[i]] as const).filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
  const n = pts.length;
  if (n < 2) return null;
  const mx = pts.reduce((s, [x]) => s + x, 0) / n;
  const my = pts.reduce((s, [, y]) => s + y, 0) / n;
  const sxx = pts.reduce((s, [x]) => s + (x - mx) ** 2, 0);
  if (sxx === 0) return null;
  const slope = pts.reduce((s, [x, y]) => s + (x - mx) * (y - my), 0) / sxx;
  const intercept = my - slope * mx;
  if (n < 3) return { n, slope, intercept, slopeSe: null, slopeCi95: null, residualSd: null };
  const sse = pts.reduce((s, [x, y]) => s + (y - intercept - slope * x) ** 2, 0);
  const residualSd = Math.sqrt(sse / (n - 2));
  const slopeSe = residualSd / Math.sqrt(sxx);
  const h = t975(n - 2) * slopeSe;
  return { n, slope, intercept, slopeSe, slopeCi95: { low: slope - h, high: slope + h }, residualSd };
}

export interface RobustSlope {
  n: number;
  /** Median of the slopes of all pairs with distinct x (Theil–Sen). */
  slope: number;
  /** 95% CI from the ranks of the pairwise slopes (Sen 1968, normal approximation; null below 3 points). */
  ci95: { low: number; high: number } | null;
}

/**
 * Theil–Sen slope: a burst of slow points (another job on a shared machine) moves it far less than
 * it moves least squares, so a drift that is really there shows against the noise.
 */
export function theilSen(xs: readonly number[], ys: readonly number[]): RobustSlope | null {
  if (xs.length !== ys.length) throw new Error(`theilSen: ${xs.length} x values but ${ys.length} y values`);
  const pts = xs.map((x, i) => [x, ys[i]] as const).filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
  const n = pts.length;
  const slopes: number[] = [];
  for (let i = 0; i < n; i++)
    for (let j = i + 1; j < n; j++) if (pts[j][0] !== pts[i][0]) slopes.push((pts[j][1] - pts[i][1]) / (pts[j][0] - pts[i][0]));
  if (!slopes.length) return null;
  slopes.sort((a, b) => a - b);
  const slope = quantileSorted(slopes, 0.5);
  if (n < 3) return { n, slope, ci95: null };
  // ties in x or y are ignored in the variance: the CI is then slightly conservative
  const c = 1.959963984540054 * Math.sqrt((n * (n - 1) * (2 * n + 5)) / 18);
  const lo = Math.max(0, Math.floor((slopes.length - c) / 2) - 1);
  const hi = Math.min(slopes.length - 1, Math.ceil((slopes.length + c) / 2));
  return { n, slope, ci95: { low: slopes[lo], high: slopes[hi] } };
}
