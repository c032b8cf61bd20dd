// Benchmark: experiments/plot.ts on a synthetic 20-migration run with ~10 minutes of 1 s rows.
// Baseline: the goal of 10 s for the whole CLI (tsx start-up included). Prints the median of a few
// repetitions of the CLI, and of the in-process analyzeRun, with the ratio to the goal.
//   npx tsx bench/plot.ts [--reps N]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { $ } from 'zx';
import { analyzeRun } from '../experiments/analysis/analyze.ts';
import { percentile } from '../lib/analysis/stats.ts';
import { writeSyntheticRun } from '../test/fixtures/analysis/generate.ts';

const GOAL_MS = 10_000;
const repsArg = process.argv.indexOf('--reps');
const reps = repsArg > 0 ? Number(process.argv[repsArg + 1]) : 3;
if (!Number.isInteger(reps) || reps < 1 || reps > 20)
  throw new Error(`--reps must be an integer 1-20, got ${process.argv[repsArg + 1]}`);

const median = (xs: number[]) => percentile(xs, 0.5)!;
const root = mkdtempSync(join(tmpdir(), 'p4an-bench-'));
try {
  const run = writeSyntheticRun(join(root, 'run_bench'), { format: 'p4cf', migrations: 20, seed: 99, steadyS: 15, postS: 25 });
  const rows = run.cells.length;
  const cli: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    await $({ quiet: true, cwd: resolve(import.meta.dirname, '..') })`npx tsx experiments/plot.ts ${run.dir}`;
    cli.push(performance.now() - t0);
  }
  const inproc: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    await analyzeRun(run.dir);
    inproc.push(performance.now() - t0);
  }
  const c = median(cli);
  const p = median(inproc);
  console.log(`plot.ts on 20 migrations, ${rows} rows (${(rows / 60).toFixed(1)} min at 1 s), ${reps} reps`);
  console.log(
    `  CLI (npx tsx experiments/plot.ts):  median ${(c / 1000).toFixed(2)} s   = ${(c / GOAL_MS).toFixed(3)} × goal (${GOAL_MS / 1000} s)`,
  );
  console.log(`  in-process analyzeRun():            median ${(p / 1000).toFixed(2)} s   = ${(p / GOAL_MS).toFixed(3)} × goal`);
  console.log(`  ${c <= GOAL_MS ? 'within' : 'OVER'} the goal`);
} finally {
  rmSync(root, { recursive: true, force: true });
}
