// Phase steady: measure steady state for STEADY_STATE before the first migration, with a countdown
// a probe of the controller and the server container every 2 s, and a check that the collector
// is still writing rows.
import { existsSync, statSync } from 'node:fs';
import type { Phase } from '../../lib/run/phases.ts';
import { countdown } from '../../lib/run/wait.ts';
import { workloadFiles } from '../workload/lifecycle.ts';
import { serverLocation } from '../../lib/migration/migrate.ts';
import { componentWatch } from '../../lib/migration/precheck.ts';

export const phase: Phase = {
  name: 'steady',
  description: 'wait STEADY_STATE while the collector records the steady state',
  hosts: () => ['local'],
  reads: ['serverHost'],
  writes: [],
  async run(ctx) {
    const total = ctx.config.STEADY_STATE;
    if (ctx.dryRun) {
      ctx.log.step('steady', `would wait ${total} ms`);
      return;
    }
    const { csv } = workloadFiles(ctx.dir);
    // a dead controller, switch or server ends the run now, not as silence in the measurement
    await countdown(ctx, 'steady state', total, () => (existsSync(csv) ? `metrics.csv ${statSync(csv).size} B` : undefined), {
      check: componentWatch(ctx, () => serverLocation(ctx)),
    });
    // A stale CSV means the collector died: fail here rather than measure a migration blind.
    const age = existsSync(csv) ? Date.now() - statSync(csv).mtimeMs : Infinity;
    const limit = Math.max(5000, 5 * ctx.config.METRICS_INTERVAL);
    if (age > limit)
      throw new Error(
        `steady: ${csv} was last written ${Number.isFinite(age) ? `${Math.round(age)} ms ago` : 'never'} (limit ${limit} ms); is the collector running? see collector.log`,
      );
    ctx.log.step('steady', `steady state recorded for ${total} ms`);
  },
};
