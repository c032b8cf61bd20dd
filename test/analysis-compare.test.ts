// compare.ts: expands a parent folder to its run_* folders, lists every run side by side, and
// compares each against the first (downtime deltas, Mann-Whitney U), through the real CLI.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { $ } from 'zx';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expandRunDirs } from '../experiments/analysis/compare.ts';
import { writeSyntheticRun, type SyntheticRun } from './fixtures/analysis/generate.ts';

let root: string;
const runs: SyntheticRun[] = [];
const r7 = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  const h = (s.length - 1) * p;
  const lo = Math.floor(h);
  return s[lo] + (h - lo) * (s[Math.min(lo + 1, s.length - 1)] - s[lo]);
};

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'p4an-compare-'));
  runs.push(writeSyntheticRun(join(root, 'batch', 'run_20250101_000001'), { format: 'bash', migrations: 20, seed: 41 }));
  runs.push(writeSyntheticRun(join(root, 'batch', 'run_20250101_000002'), { format: 'p4cf', migrations: 12, seed: 42 }));
  runs.push(writeSyntheticRun(join(root, 'other', 'run_x'), { format: 'p4cf', migrations: 5, seed: 43 }));
  mkdirSync(join(root, 'empty'));
});
afterAll(() => {
  if (root) rmSync(root, { recursive: true, force: true });
});

describe('compare CLI', () => {
  it('lists every run side by side and compares each against the first', async () => {
    const out = join(root, 'cmp');
    const p = await $({
      nothrow: true,
      quiet: true,
      cwd: resolve('.'),
    })`npx tsx experiments/compare.ts --out ${out} ${join(root, 'batch')} ${join(root, 'other', 'run_x')}`;
    expect(p.exitCode, p.stderr).toBe(0);
    const text = p.stdout;
    const header = text.split('\n')[0];
    for (const name of ['run_20250101_000001', 'run_20250101_000002', 'run_x']) expect(header).toContain(name);
    // The downtime p50 row shows each run's R-7 median, rounded.
    const p50Row = text.split('\n').find((l) => l.startsWith('downtime p50 (ms)'))!;
    for (const r of runs)
      expect(p50Row).toContain(
        r7(
          r.migrations.map((m) => m.time_to_ready_ms),
          0.5,
        ).toFixed(0),
      );
    expect(text).toMatch(/frames lost\s+n\/m\s+\d+\s+\d+/); // bash run: not measured
    expect(text).toContain('against run_20250101_000001');

    const json = JSON.parse(readFileSync(join(out, 'compare.json'), 'utf8'));
    expect(json.runs.map((r: { label: string }) => r.label)).toEqual(['run_20250101_000001', 'run_20250101_000002', 'run_x']);
    expect(json.diffs).toHaveLength(2);
    // Δ mean downtime and the U statistic, computed here from the generated values.
    const dt = runs.map((r) => r.migrations.map((m) => m.time_to_ready_ms));
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    expect(json.diffs[0].downtime_mean_delta_ms).toBeCloseTo(mean(dt[1]) - mean(dt[0]), 6);
    let u = 0;
    for (const x of dt[1]) for (const y of dt[0]) u += x > y ? 1 : x === y ? 0.5 : 0;
    expect(json.diffs[0].mann_whitney.u).toBe(u);
    expect(json.diffs[0].mann_whitney.p).toBeGreaterThan(0);
    expect(json.diffs[0].mann_whitney.p).toBeLessThanOrEqual(1);
    const ci = json.runs[0].downtime_p50_ci95;
    expect(ci.low).toBeLessThanOrEqual(json.runs[0].downtime_ms.p50);
    expect(ci.high).toBeGreaterThanOrEqual(json.runs[0].downtime_ms.p50);
    expect(existsSync(join(out, 'compare.html'))).toBe(true);
    const html = readFileSync(join(out, 'compare.html'), 'utf8');
    for (const name of ['run_20250101_000001', 'run_20250101_000002', 'run_x']) expect(html).toContain(name);
  });

  it('detects a clearly slower run (p < 0.05) and not an identical one', async () => {
    const fast = writeSyntheticRun(join(root, 'fast', 'run_a'), { format: 'p4cf', migrations: 15, seed: 50 });
    // Same generator, but every phase offset: rewrite time_to_ready in the JSON by +800 ms.
    const slowDir = join(root, 'slow', 'run_b');
    const slow = writeSyntheticRun(slowDir, { format: 'p4cf', migrations: 15, seed: 51 });
    const { writeFileSync } = await import('node:fs');
    for (const m of slow.migrations) {
      const f = join(slowDir, `migration_timing_${m.index}.json`);
      writeFileSync(
        f,
        readFileSync(f, 'utf8').replace(/"time_to_ready_ms": \d+/, `"time_to_ready_ms": ${m.time_to_ready_ms + 800}`),
      );
    }
    const { compareRuns } = await import('../experiments/analysis/compare.ts');
    const r = await compareRuns([fast.dir, slowDir, fast.dir], { outDir: join(root, 'cmp2') });
    expect(r.diffs[0].mann_whitney!.p).toBeLessThan(0.05);
    expect(r.diffs[1].mann_whitney!.p).toBeCloseTo(1, 6);
    expect(r.runs.map((x) => x.label)).toEqual(['fast/run_a', 'run_b', 'fast/run_a (2)']);
  });

  it('rejects a folder that is neither a run nor a folder of runs, naming it', async () => {
    expect(() => expandRunDirs([join(root, 'empty')])).toThrow(/empty.*neither a run folder/);
    expect(() => expandRunDirs([join(root, 'missing')])).toThrow(/missing.*not a directory/);
    const p = await $({ nothrow: true, quiet: true })`npx tsx experiments/compare.ts`;
    expect(p.exitCode).toBe(2);
    expect(p.stderr).toMatch(/no run folder given/);
  });
});
