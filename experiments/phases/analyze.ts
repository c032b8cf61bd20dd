// Phase `analyze`: summary.json, plots/ and report.html of the run folder, on this machine.
// The analysis is synchronous work of seconds (SVG/PNG rendering): run in-process it would block
// the event loop, so Ctrl-C could not reach the runner (tsx then SIGKILLs it and no undo runs).
// It runs as experiments/plot.ts in a child process instead, which the run's signal ends.
import { join } from 'node:path';
import { tail } from '../../lib/run/text.ts';
import type { Phase } from '../../lib/run/phases.ts';

export const phase: Phase = {
  name: 'analyze',
  description:
    'Compute summary.json (downtime, phases, drops, frames lost, RTT recovery), render plots/ (SVG + PNG) and a self-contained report.html from the run folder',
  hosts: () => ['local'],
  reads: [],
  writes: [],
  async run(ctx) {
    if (ctx.dryRun) {
      ctx.log.info(`[dry-run] would analyse ${ctx.dir}: summary.json, plots/, report.html`);
      return;
    }
    const tsx = join(ctx.projectDir, 'node_modules', 'tsx', 'dist', 'cli.mjs');
    const plot = join(ctx.projectDir, 'experiments', 'plot.ts');
    // in a child: the analysis blocks the event loop, and Ctrl-C must still reach the runner
    const r = await ctx.onLocal`${process.execPath} ${tsx} ${plot} ${ctx.dir}`.nothrow();
    for (const line of r.lines().filter(Boolean)) ctx.log.step('analyze', line);
    if (!r.ok)
      throw new Error(`analyze: experiments/plot.ts ${ctx.dir} failed (exit ${r.exitCode}): ${tail(r.stderr || r.stdout, 8)}`);
  },
};
