import { describe as suite, expect, it } from 'vitest';
import { bootstrapMedianCI, describe, ecdf, linearFit, mannWhitneyU, percentile, sd, theilSen } from '../lib/analysis/stats.ts';

suite('percentile (R-7: linear interpolation between closest ranks)', () => {
  // Sorted: 15 20 35 40 50. h = (n-1)p. Hand-computed:
  //   p=0.40 → h=1.6 → 20 + 0.6·(35-20) = 29
  //   p=0.95 → h=3.8 → 40 + 0.8·(50-40) = 48
  //   p=0.50 → h=2   → 35 ; p=0 → 15 ; p=1 → 50
  const xs = [40, 15, 50, 35, 20];
  it('matches hand-computed values on a small unsorted array', () => {
    expect(percentile(xs, 0.4)).toBeCloseTo(29, 12);
    expect(percentile(xs, 0.95)).toBeCloseTo(48, 12);
    expect(percentile(xs, 0.5)).toBe(35);
    expect(percentile(xs, 0)).toBe(15);
    expect(percentile(xs, 1)).toBe(50);
  });
  it('interpolates for an even count (median of 1 2 3 4 is 2.5, p99 is 3.97)', () => {
    expect(percentile([4, 1, 3, 2], 0.5)).toBe(2.5);
    expect(percentile([4, 1, 3, 2], 0.99)).toBeCloseTo(3 + 0.97, 12);
  });
  it('ignores nulls/NaN and gives null for an empty sample', () => {
    expect(percentile([], 0.5)).toBeNull();
    expect(describe([null, Number.NaN, undefined]).n).toBe(0);
  });
  it('rejects p outside [0,1] naming the value', () => {
    expect(() => percentile(xs, 95)).toThrow(/95/);
  });
});

suite('describe', () => {
  it('gives n, mean, sample sd, min, max and the R-7 percentiles', () => {
    const d = describe([2, 4, 4, 4, 5, 5, 7, 9, null]);
    expect(d.n).toBe(8);
    expect(d.mean).toBe(5);
    // Σ(x-5)² = 9+1+1+1+0+0+4+16 = 32; sample variance 32/7
    expect(d.sd).toBeCloseTo(Math.sqrt(32 / 7), 12);
    expect(d.min).toBe(2);
    expect(d.max).toBe(9);
    expect(d.p50).toBe(4.5);
    expect(d.p95).toBeCloseTo(7 + 0.65 * 2, 12); // h = 7·0.95 = 6.65
  });
  it('has no sd for a single value', () => {
    expect(sd([3])).toBeNull();
    expect(describe([3]).sd).toBeNull();
  });
});

suite('ecdf', () => {
  it('steps to the fraction ≤ x at each distinct value', () => {
    expect(ecdf([3, 1, 2, 2])).toEqual([
      { x: 1, p: 0.25 },
      { x: 2, p: 0.75 },
      { x: 3, p: 1 },
    ]);
  });
});

suite('bootstrapMedianCI', () => {
  const xs = Array.from({ length: 30 }, (_, i) => 1000 + ((i * 37) % 101));
  it('is reproducible for a seed and differs across seeds', () => {
    const a = bootstrapMedianCI(xs, { seed: 7 });
    const b = bootstrapMedianCI(xs, { seed: 7 });
    const c = bootstrapMedianCI(xs, { seed: 8, resamples: 500 });
    expect(a).toEqual(b);
    expect(c).not.toEqual(a);
  });
  it('brackets the sample median inside the sample range', () => {
    const ci = bootstrapMedianCI(xs)!;
    const med = percentile(xs, 0.5)!;
    expect(ci.low).toBeLessThanOrEqual(med);
    expect(ci.high).toBeGreaterThanOrEqual(med);
    expect(ci.low).toBeGreaterThanOrEqual(Math.min(...xs));
    expect(ci.high).toBeLessThanOrEqual(Math.max(...xs));
    expect(ci.high).toBeGreaterThan(ci.low);
  });
  it('is null for an empty sample and rejects a bad level', () => {
    expect(bootstrapMedianCI([])).toBeNull();
    expect(() => bootstrapMedianCI(xs, { level: 95 })).toThrow(/95/);
  });
});

suite('mannWhitneyU', () => {
  it('exact: fully separated samples of 3 and 3 give p = 2/C(6,3) = 0.1', () => {
    const r = mannWhitneyU([1, 2, 3], [4, 5, 6]);
    expect(r.method).toBe('exact');
    expect(r.u).toBe(0);
    expect(r.p).toBeCloseTo(0.1, 12);
  });
  it('exact: the scipy documentation example (U = 17, p = 1/9)', () => {
    const r = mannWhitneyU([19, 22, 16, 29, 24], [20, 11, 17, 12]);
    expect(r.u).toBe(17);
    expect(r.p).toBeCloseTo(0.1111111, 6);
  });
  it('normal approximation with ties follows the written-out formula', () => {
    const a = [1, 2, 2, 3, 5, 5, 7, 8, 9, 9];
    const b = [2, 4, 5, 6, 8, 10, 11, 12, 12, 13, 14];
    const r = mannWhitneyU(a, b);
    expect(r.method).toBe('normal');
    // Independent computation: U = #pairs a>b + ½ #ties.
    let u = 0;
    for (const x of a) for (const y of b) u += x > y ? 1 : x === y ? 0.5 : 0;
    expect(r.u).toBe(u);
    const pooled = [...a, ...b];
    const counts = new Map<number, number>();
    for (const v of pooled) counts.set(v, (counts.get(v) ?? 0) + 1);
    let tie = 0;
    for (const t of counts.values()) tie += t ** 3 - t;
    const n1 = a.length,
      n2 = b.length,
      n = n1 + n2;
    const sigma = Math.sqrt(((n1 * n2) / 12) * (n + 1 - tie / (n * (n - 1))));
    const z = (Math.abs(u - (n1 * n2) / 2) - 0.5) / sigma;
    expect(r.z).toBeCloseTo(z, 10);
    // Φ by numeric integration of the normal density (Simpson), independent of any erf table.
    const steps = 20000,
      lo = 0,
      hi = z;
    let s = 0;
    for (let i = 0; i <= steps; i++) {
      const x = lo + ((hi - lo) * i) / steps;
      const w = i === 0 || i === steps ? 1 : i % 2 ? 4 : 2;
      s += w * Math.exp((-x * x) / 2);
    }
    const phi = 0.5 + (s * (hi - lo)) / (3 * steps) / Math.sqrt(2 * Math.PI);
    expect(r.p).toBeCloseTo(2 * (1 - phi), 5);
  });
  it('identical samples give p = 1 and empty samples are rejected', () => {
    expect(mannWhitneyU([1, 2, 3, 4], [1, 2, 3, 4]).p).toBeCloseTo(1, 12);
    expect(() => mannWhitneyU([], [1])).toThrow(/non-empty/);
  });
});

suite('linearFit (ordinary least squares)', () => {
  it('recovers an exact line', () => {
    const f = linearFit([1, 2, 3, 4], [5, 7, 9, 11])!;
    expect(f.slope).toBeCloseTo(2, 12);
    expect(f.intercept).toBeCloseTo(3, 12);
    expect(f.residualSd).toBeCloseTo(0, 12);
  });
  it('matches a hand-computed fit with its standard error and 95% CI', () => {
    // x 1..5, y 2 4 5 4 5: mx 3, my 4, Sxx 10, Sxy 6 → slope 0.6, intercept 2.2;
    // residuals -0.8 0.6 1 -0.6 -0.2 → SSE 2.4, s = sqrt(0.8), se = s/sqrt(10) = 0.28284;
    // t(0.975, 3) = 3.182 → CI 0.6 ± 0.9000
    const f = linearFit([1, 2, 3, 4, 5], [2, 4, 5, 4, 5])!;
    expect(f.slope).toBeCloseTo(0.6, 12);
    expect(f.intercept).toBeCloseTo(2.2, 12);
    expect(f.slopeSe!).toBeCloseTo(0.282843, 5);
    expect(f.slopeCi95!.high - f.slope).toBeCloseTo(3.182 * 0.282843, 2);
  });
  it('skips non-finite pairs, gives null below two points, refuses unequal lengths', () => {
    expect(linearFit([1, 2, 3], [1, Number.NaN, 3])!.slope).toBeCloseTo(1, 12);
    expect(linearFit([1], [1])).toBeNull();
    expect(() => linearFit([1, 2], [1])).toThrow(/2 x values but 1 y/);
  });
});

suite('theilSen (median of pairwise slopes)', () => {
  it('recovers an exact line and is not pulled by a burst of outliers', () => {
    const xs = Array.from({ length: 30 }, (_, i) => i + 1);
    expect(
      theilSen(
        xs,
        xs.map((x) => 3 * x + 1),
      )!.slope,
    ).toBeCloseTo(3, 12);
    // flat at 100 with five slow points late in the run (another job on the machine)
    const ys = xs.map((x) => (x >= 22 && x <= 26 ? 400 : 100 + (x % 3)));
    const ts = theilSen(xs, ys)!;
    expect(Math.abs(ts.slope)).toBeLessThan(0.2);
    expect(ts.ci95!.low).toBeLessThanOrEqual(0);
    expect(ts.ci95!.high).toBeGreaterThanOrEqual(0);
    expect(linearFit(xs, ys)!.slope).toBeGreaterThan(4);
  });
  it('gives a CI that excludes 0 for a real trend, null below two points, refuses unequal lengths', () => {
    const xs = Array.from({ length: 40 }, (_, i) => i);
    const ts = theilSen(
      xs,
      xs.map((x) => 2 * x + (x % 5) - 2),
    )!;
    expect(ts.slope).toBeCloseTo(2, 0);
    expect(ts.ci95!.low).toBeGreaterThan(1.5);
    expect(theilSen([1], [1])).toBeNull();
    expect(() => theilSen([1, 2], [1])).toThrow(/2 x values but 1 y/);
  });
});
