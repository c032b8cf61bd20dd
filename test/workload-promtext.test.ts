import { describe, expect, it } from 'vitest';
import client from 'prom-client';
import { parsePromText, sampleValue } from '../experiments/workload/promtext.ts';
import { summarize, meanAbs } from '../experiments/workload/rttstats.ts';
import { percentile as r7 } from '../lib/analysis/stats.ts';

// The load generator's percentiles are lib/stats' R-7; here on its 0-100 scale, NaN when empty.
const percentile = (xs: number[], p: number) => r7(xs, p / 100) ?? NaN;

describe('prometheus text parser', () => {
  it("parses prom-client's own output: gauges, counters, labels, histograms, NaN", async () => {
    const reg = new client.Registry();
    client.collectDefaultMetrics({ register: reg });
    new client.Gauge({ name: 'p4wl_g', help: 'h', registers: [reg] }).set(3.25);
    new client.Gauge({ name: 'p4wl_nan', help: 'h', registers: [reg] }).set(NaN);
    const c = new client.Counter({ name: 'p4wl_c_total', help: 'h', labelNames: ['dir'], registers: [reg] });
    c.inc({ dir: 'in "quoted"' }, 7);
    const h = new client.Histogram({ name: 'p4wl_h', help: 'h', buckets: [1, 10], registers: [reg] });
    h.observe(0.5);
    h.observe(5);
    h.observe(50);
    const samples = parsePromText(await reg.metrics());
    expect(sampleValue(samples, 'p4wl_g')).toBe(3.25);
    expect(Number.isNaN(sampleValue(samples, 'p4wl_nan'))).toBe(true);
    expect(sampleValue(samples, 'p4wl_c_total', { dir: 'in "quoted"' })).toBe(7);
    expect(sampleValue(samples, 'p4wl_h_bucket', { le: '1' })).toBe(1);
    expect(sampleValue(samples, 'p4wl_h_bucket', { le: '+Inf' })).toBe(3);
    expect(sampleValue(samples, 'p4wl_h_count')).toBe(3);
    expect(sampleValue(samples, 'process_cpu_seconds_total')).toBeGreaterThan(0);
    expect(sampleValue(samples, 'p4wl_absent')).toBeUndefined();
  });

  it('rejects a malformed line with its number', () => {
    expect(() => parsePromText('ok 1\nthis is not a sample\n')).toThrow(/line 2/);
  });
});

describe('interval statistics', () => {
  it('percentiles interpolate linearly between closest ranks', () => {
    expect(percentile([1, 2, 3, 4], 50)).toBe(2.5);
    expect(percentile([10, 20], 95)).toBeCloseTo(19.5);
    expect(Number.isNaN(percentile([], 50))).toBe(true);
    expect(summarize([3, 1, 2])).toMatchObject({ avg: 2, p50: 2, max: 3, count: 3 });
  });
  it('jitter is the mean absolute difference', () => {
    expect(meanAbs([1, -3, 2])).toBe(2);
  });
});
