// Phase `analyze`: summary.json, plots/ and report.html of the run folder, on this machine.
import type { Phase } from '../../lib/run/phases.ts';
import { analyzeRun, summaryLines } from '../analysis/analyze.ts';

export const phase: Phase = {
  name: 'analyze',
  description: 'Compute summary.json (downtime, phases, drops, frames lost, RTT recovery), render plots/ (SVG + PNG) and a self-contained report.html from the run folder',
  hosts: () => ['local'],
  reads: [],
  writes: [],
  async run(ctx) {
    if (ctx.dryRun) {
      ctx.log.info(`[dry-run] would analyse ${ctx.dir}: summary.json, plots/, report.html`);
      return;
    }
    const result = await analyzeRun(ctx.dir, { log: (m) => ctx.log.step('analyze', m) });
    for (const line of summaryLines(result)) ctx.log.step('analyze', line);
  },
};
