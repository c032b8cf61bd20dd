// Phase post: measure POST_MIGRATION after the last migration, then stop the workload
// (collector first, so the last CSV row is still live; then the load generator, whose log is fetched).
import { loadgenHost } from '../../lib/migration/schedule.ts';
import type { Phase } from '../../lib/run/phases.ts';
import { countdown } from '../../lib/run/wait.ts';
import { stopWorkload } from '../workload/lifecycle.ts';
import { serverLocation } from '../../lib/migration/migrate.ts';
import { componentWatch } from '../../lib/migration/precheck.ts';

export const phase: Phase = {
  name: 'post',
  description: 'wait POST_MIGRATION after the last migration, then stop the collector and the load generator',
  hosts: (ctx) => ['local', loadgenHost(ctx.config)],
  reads: ['workload', 'serverHost'],
  writes: ['workload'],
  async run(ctx) {
    // a dead controller, switch or server ends the run with its error (the workload undo still stops it)
    if (ctx.config.MIGRATIONS > 0) {
      await countdown(ctx, 'post-migration (last)', ctx.config.POST_MIGRATION, undefined, {
        check: componentWatch(ctx, () => serverLocation(ctx)),
      });
    }
    await stopWorkload(ctx);
  },
};
