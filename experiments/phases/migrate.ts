// Phase migrate: MIGRATIONS live migrations, alternating lakewood→loveland (odd) and back (even),
// each followed by POST_MIGRATION of measurement (the last one's wait belongs to `post`).
import { directionFor, migrate, serverLocation } from '../../lib/migration/migrate.ts';
import { componentWatch } from '../../lib/migration/precheck.ts';
import type { Phase } from '../../lib/run/phases.ts';
import { countdown } from '../../lib/run/wait.ts';

export const phase: Phase = {
  name: 'migrate',
  description: 'MIGRATIONS live migrations of the server container, alternating between lakewood and loveland',
  hosts: () => ['lakewood', 'loveland', 'tofino'],
  reads: ['serverHost', 'serverProc', 'workload', 'transferMethod', 'migrationsDone'],
  writes: ['serverHost', 'serverProc', 'transferMethod', 'migrationsDone'],
  async run(ctx) {
    const n = ctx.config.MIGRATIONS;
    const done = Number(ctx.state.get('migrationsDone') ?? 0);
    if (n === 0) { ctx.log.step('migrate', 'MIGRATIONS=0: nothing to do'); return; }
    const times: number[] = [];
    for (let i = 1; i <= n; i++) {
      if (i <= done && !ctx.dryRun) { ctx.log.step('migrate', `migration ${i} already done (state.json), skipping`); continue; }
      const t = await migrate(ctx, { direction: directionFor(i), index: i });
      if (t) times.push(Number(t.time_to_ready_ms));
      ctx.state.set('migrationsDone', i);
      if (i < n) await countdown(ctx, `post-migration ${i}/${n}`, ctx.config.POST_MIGRATION, undefined, { check: componentWatch(ctx, () => serverLocation(ctx)) });
    }
    if (times.length) {
      const sorted = [...times].sort((a, b) => a - b);
      ctx.log.step('migrate', `${times.length} migration(s): time_to_ready min ${sorted[0]} ms, max ${sorted[sorted.length - 1]} ms`);
    }
  },
};
