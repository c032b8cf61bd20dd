// summary.json of synthetic run folders (p4cf and bash format) checked against the generator's
// known inputs and against figures computed here, independently of lib/stats.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { analyzeRun, type AnalyzeResult } from '../experiments/analysis/analyze.ts';
import { writeSyntheticRun, type SyntheticRun } from './fixtures/analysis/generate.ts';

// --- independent statistics (written out here on purpose, not imported) ----------------------
/** h = (n-1)p, interpolate between the values at floor(h) and floor(h)+1 of the sorted sample. */
function r7(values: number[], p: number): number {
  const s = [...values].sort((a, b) => a - b);
  const h = (s.length - 1) * p;
  const lo = Math.floor(h);
  const hi = Math.min(lo + 1, s.length - 1);
  return s[lo] + (h - lo) * (s[hi] - s[lo]);
}
const avg = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const sampleSd = (xs: number[]) => {
  const m = avg(xs);
  return Math.sqrt(xs.reduce((a, x) => a + (x - m) ** 2, 0) / (xs.length - 1));
};

function expectDescribe(actual: Record<string, number | null>, xs: number[]) {
  expect(actual.n).toBe(xs.length);
  expect(actual.mean).toBeCloseTo(avg(xs), 6);
  expect(actual.sd).toBeCloseTo(sampleSd(xs), 6);
  expect(actual.min).toBe(Math.min(...xs));
  expect(actual.max).toBe(Math.max(...xs));
  expect(actual.p50).toBeCloseTo(r7(xs, 0.5), 6);
  expect(actual.p95).toBeCloseTo(r7(xs, 0.95), 6);
  expect(actual.p99).toBeCloseTo(r7(xs, 0.99), 6);
}

/** A column of the CSV as written: time (unix ms) and the value, null for an empty field. */
function column(run: SyntheticRun, name: string): Array<{ t: number; v: number | null }> {
  const ti = run.header.indexOf('timestamp_unix_milli');
  const ci = run.header.indexOf(name);
  return run.cells.map((c) => ({ t: Number(c[ti]), v: c[ci] === '' ? null : Number(c[ci]) }));
}
const switchMs = (m: SyntheticRun['migrations'][number]) =>
  m.startMs +
  m.checkpoint_ms +
  m.pre_transfer_ms +
  m.transfer_ms +
  m.post_transfer_ms +
  m.pre_restore_ms +
  m.restore_ms +
  m.switch_ms +
  0.123456;

let root: string;
let p4cf: SyntheticRun, bash: SyntheticRun;
let a: AnalyzeResult, b: AnalyzeResult;

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'p4an-summary-'));
  p4cf = writeSyntheticRun(join(root, 'run_p4cf'), { format: 'p4cf', migrations: 20, seed: 11 });
  bash = writeSyntheticRun(join(root, 'run_bash'), { format: 'bash', migrations: 20, seed: 12 });
  a = await analyzeRun(p4cf.dir);
  b = await analyzeRun(bash.dir);
});
afterAll(() => {
  if (root) rmSync(root, { recursive: true, force: true });
});

describe('summary.json of a p4cf-format run', () => {
  const s = () => JSON.parse(readFileSync(join(p4cf.dir, 'summary.json'), 'utf8'));

  it('is written and names the run and format', () => {
    expect(existsSync(a.summaryPath)).toBe(true);
    expect(s().run.format).toBe('p4cf');
    expect(s().run.migrations).toBe(20);
    expect(s().run.metrics_rows).toBe(p4cf.cells.length);
    expect(s().run.extra_columns).toEqual(['custom_extra']);
  });

  it('downtime = time_to_ready_ms of every migration (n, mean, sd, p50, p95, p99, min, max)', () => {
    expectDescribe(
      s().downtime_ms,
      p4cf.migrations.map((m) => m.time_to_ready_ms),
    );
  });

  it('per-phase figures equal the generated phase durations', () => {
    for (const k of [
      'checkpoint_ms',
      'transfer_ms',
      'restore_ms',
      'switch_ms',
      'total_ms',
      'pre_transfer_ms',
      'post_transfer_ms',
      'pre_restore_ms',
      'post_switch_ms',
      'source_stop_ms',
    ] as const) {
      expectDescribe(
        s().phases_ms[k],
        p4cf.migrations.map((m) => m[k]),
      );
    }
    expectDescribe(
      s().checkpoint_size_bytes,
      p4cf.migrations.map((m) => m.checkpoint_size_bytes),
    );
  });

  it('counts drops, frames lost/duplicated/reordered and pings unanswered, in total and per migration window', () => {
    const sum = (k: 'frames_lost' | 'pings_unanswered' | 'frames_duplicated' | 'frames_reordered' | 'drops') =>
      p4cf.migrations.reduce((acc, m) => acc + m[k], 0);
    expect(s().connection_drops).toBe(sum('drops'));
    expect(s().connection_drops).toBe(1);
    for (const k of ['frames_lost', 'pings_unanswered', 'frames_duplicated', 'frames_reordered'] as const) {
      expect(s().counters[k].total).toBe(sum(k));
      expect(s().counters[k].per_migration).toEqual(p4cf.migrations.map((m) => m[k]));
    }
    expect(s().migrations.map((m: { window: { connection_drops: number } }) => m.window.connection_drops)).toEqual(
      p4cf.migrations.map((m) => m.drops),
    );
  });

  it('steady RTT (rows before the first migration) and RTT in the 5 s after each switch update', () => {
    const rtt = column(p4cf, 'ws_rtt_avg_ms').filter((r) => r.v !== null && r.v > 0) as Array<{ t: number; v: number }>;
    const first = p4cf.migrations[0].startMs;
    expectDescribe(
      s().rtt.steady,
      rtt.filter((r) => r.t < first).map((r) => r.v),
    );
    const after = p4cf.migrations.flatMap((m) =>
      rtt.filter((r) => r.t > switchMs(m) && r.t <= switchMs(m) + 5000).map((r) => r.v),
    );
    expectDescribe(s().rtt.after_migration, after);
    expect(s().rtt.after_over_steady).toBeCloseTo(avg(after) / avg(rtt.filter((r) => r.t < first).map((r) => r.v)), 6);
    const max = column(p4cf, 'ws_rtt_max_ms');
    p4cf.migrations.forEach((m, i) => {
      const win = rtt.filter((r) => r.t > switchMs(m) && r.t <= switchMs(m) + 5000).map((r) => r.v);
      const winMax = max
        .filter((r) => r.v !== null && r.v > 0 && r.t > switchMs(m) && r.t <= switchMs(m) + 5000)
        .map((r) => r.v as number);
      expect(s().migrations[i].rtt_after.n).toBe(win.length);
      if (win.length) expect(s().migrations[i].rtt_after.mean_ms).toBeCloseTo(avg(win), 6);
      if (winMax.length) expect(s().migrations[i].rtt_after.max_ms).toBe(Math.max(...winMax));
    });
  });

  it('time from switch update to first data comes from the timing JSON', () => {
    expect(s().first_data_after_switch_ms.source).toBe('timing');
    expect(s().migrations.map((m: { first_data_after_switch_ms: number }) => m.first_data_after_switch_ms)).toEqual(
      p4cf.migrations.map((m) => m.resume_ms),
    );
    expectDescribe(
      s().first_data_after_switch_ms.stats,
      p4cf.migrations.map((m) => m.resume_ms),
    );
  });

  it('places each migration on the CSV time axis from its ns timestamps', () => {
    const spans = s().spans as Array<{ index: number; start_s: number; end_s: number; from: string }>;
    expect(spans).toHaveLength(20);
    p4cf.migrations.forEach((m, i) => {
      expect(spans[i].from).toBe('timing');
      expect(spans[i].start_s).toBeCloseTo((m.startMs - p4cf.t0Ms) / 1000, 3);
      expect(spans[i].end_s).toBeCloseTo((m.startMs + m.total_ms - p4cf.t0Ms) / 1000, 3);
    });
  });
});

describe('summary.json of a bash-format run', () => {
  const s = () => JSON.parse(readFileSync(join(bash.dir, 'summary.json'), 'utf8'));

  it('reads config.txt and the .txt timing files', () => {
    expect(s().run.format).toBe('bash');
    expectDescribe(
      s().downtime_ms,
      bash.migrations.map((m) => m.time_to_ready_ms),
    );
    expectDescribe(
      s().phases_ms.restore_ms,
      bash.migrations.map((m) => m.restore_ms),
    );
    expect(a.summary.run.format).toBe('p4cf');
    expect(b.summary.run.name).toBe('run_bash');
  });

  it('reports frames as not measured, with a note, instead of zero', () => {
    expect(s().counters.frames_lost.total).toBeNull();
    expect(s().counters.pings_unanswered.total).toBeNull();
    expect(s().connection_drops).toBe(1);
    expect(s().notes.join('\n')).toMatch(/frames lost not measured/);
  });

  it('derives the time to first data from the first metrics row with an RTT after the switch update', () => {
    expect(s().first_data_after_switch_ms.source).toBe('metrics');
    const rtt = column(bash, 'ws_rtt_avg_ms');
    bash.migrations.forEach((m, i) => {
      const row = rtt.find((r) => r.t > switchMs(m) && r.v !== null && r.v > 0)!;
      expect(s().migrations[i].first_data_after_switch_ms).toBeCloseTo(row.t - switchMs(m), 2);
    });
  });
});

describe('link emulation in summary.json and report.html', () => {
  it('shows the direct link setting and each transfer against the time its rate allows for the checkpoint', async () => {
    const dir = join(root, 'run_links');
    writeSyntheticRun(dir, { format: 'p4cf', migrations: 2, seed: 21 });
    const cfgPath = join(dir, 'config.json');
    const cfg = JSON.parse(readFileSync(cfgPath, 'utf8'));
    cfg.DIRECT_LINK_RATE = { value: '20mbit', origin: '--set' };
    cfg.LINK_RATE = { value: '', origin: 'default' };
    writeFileSync(cfgPath, JSON.stringify(cfg));
    // the manual measurement of issue 16: 12.2 MB in 5.05 s at 20mbit
    for (const [i, bytes, wire] of [
      [1, 12_200_000, 5050],
      [2, 6_100_000, 2600],
    ]) {
      const p = join(dir, `migration_timing_${i}.json`);
      const t = JSON.parse(readFileSync(p, 'utf8'));
      writeFileSync(p, JSON.stringify({ ...t, checkpoint_size_bytes: bytes, transfer_wire_ms: wire }));
    }
    const r = await analyzeRun(dir);
    const l = r.summary.links!;
    expect(l.direct_link).toEqual({ rate: '20mbit', delay: '' });
    // 12.2 MB × 1514/1448 × 8 / 20e6 bit/s, written out here
    const atRate = ((((12_200_000 * 1514) / 1448) * 8) / 20e6) * 1000;
    expect(l.transfers[0]).toMatchObject({ index: 1, checkpoint_bytes: 12_200_000, wire_ms: 5050 });
    expect(l.transfers[0].at_rate_ms).toBeCloseTo(atRate, 6);
    expect(l.transfers[0].ratio).toBeCloseTo(5050 / atRate, 6);
    expect(l.transfers).toHaveLength(2);
    const html = readFileSync(r.reportPath, 'utf8');
    expect(html).toContain('<h2>Link emulation</h2>');
    expect(html).toMatch(/Direct link \(checkpoint transfer\): <b>rate 20mbit<\/b>/);
    expect(html).toContain('<td>5,050</td>');
    expect(html).toContain(`<td>${Math.round(atRate).toLocaleString('en-US')}</td>`);
  });

  it('has no links section for a run without link emulation', () => {
    expect(a.summary.links).toBeNull();
    expect(readFileSync(a.reportPath, 'utf8')).not.toContain('Link emulation');
  });
});

describe('timing files and missing files', () => {
  it('prefers migration_timing_<i>.json over the .txt of the same migration', async () => {
    const dir = join(root, 'run_prefer');
    const run = writeSyntheticRun(dir, { format: 'p4cf', migrations: 3, seed: 3 });
    const jsonPath = join(dir, 'migration_timing_2.json');
    writeFileSync(jsonPath, readFileSync(jsonPath, 'utf8').replace(/"time_to_ready_ms": \d+/, '"time_to_ready_ms": 99999'));
    const r = await analyzeRun(dir);
    expect(r.summary.downtime_ms.max).toBe(99999);
    expect(r.summary.migrations[1].time_to_ready_ms).toBe(99999);
    expect(r.summary.migrations[0].time_to_ready_ms).toBe(run.migrations[0].time_to_ready_ms);
  });

  it("the lazy engine's last page (lazy_pages_done_ms) reaches summary.json and the per-migration table; other runs have no such column", async () => {
    const dir = join(root, 'run_lazy');
    writeSyntheticRun(dir, { format: 'p4cf', migrations: 2, seed: 4 });
    const jsonPath = join(dir, 'migration_timing_1.json');
    const t = JSON.parse(readFileSync(jsonPath, 'utf8'));
    writeFileSync(jsonPath, JSON.stringify({ ...t, engine: 'lazy', lazy_pages_done_ms: 1234.5 }));
    const r = await analyzeRun(dir);
    expect(r.summary.migrations.map((m) => m.lazy_pages_done_ms)).toEqual([1234.5, null]);
    expect(readFileSync(r.reportPath, 'utf8')).toMatch(/last page arrived \(lazy\)[\s\S]*1,235/);
    writeSyntheticRun(join(root, 'run_notlazy'), { format: 'p4cf', migrations: 2, seed: 4 });
    const plain = await analyzeRun(join(root, 'run_notlazy'));
    expect(readFileSync(plain.reportPath, 'utf8')).not.toContain('last page arrived');
  });

  it('a folder without metrics.csv still yields summary.json and report.html with a clear note', async () => {
    const dir = join(root, 'run_nometrics');
    const run = writeSyntheticRun(dir, { format: 'p4cf', migrations: 4, seed: 5, omitMetrics: true });
    const r = await analyzeRun(dir);
    expect(r.summary.notes.join('\n')).toMatch(/metrics\.csv missing/);
    expect(r.summary.downtime_ms.n).toBe(4);
    expect(r.summary.downtime_ms.mean).toBeCloseTo(avg(run.migrations.map((m) => m.time_to_ready_ms)), 6);
    expect(r.summary.connection_drops).toBeNull();
    const html = readFileSync(r.reportPath, 'utf8');
    expect(html).toContain('metrics.csv missing');
    expect(r.skipped.map((p) => p.name)).toEqual(
      expect.arrayContaining(['ws_rtt', 'throughput', 'connection_health', 'ensemble_rtt_recovery']),
    );
    expect(r.plots.map((p) => p.name)).toEqual(
      expect.arrayContaining(['migration_timing', 'downtime_cdf', 'phase_variability', 'migration_bars']),
    );
  });

  it('rejects a folder that does not exist, naming it', async () => {
    await expect(analyzeRun(join(root, 'nope'))).rejects.toThrow(/nope/);
  });
});
