// Example: the standard setup and workload, then a migration loop of your own in place of the
// `migrate` phase: MIGRATIONS migrations along MIGRATION_SCHEDULE, and after each one the restored server's
// memory (VmRSS) next to its time_to_ready in rss.csv in the run folder.
//
//   npx tsx experiments/examples/rss-loop.ts --migrations 4 --post-migration 5
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  countdown,
  directionFor,
  endpoints,
  migrate,
  MIGRATION_STATE,
  onServer,
  phases,
  replacePhase,
  runPhases,
  type Phase,
} from '../lib.ts';

const rssLoop: Phase = {
  name: 'rss-loop',
  description: "MIGRATIONS migrations; the restored server's VmRSS after each into rss.csv",
  hosts: (ctx) => [...ctx.config.SERVERS, 'tofino'],
  // the state migrate() uses (phases see only the keys they declare)
  reads: [...MIGRATION_STATE.reads],
  writes: [...MIGRATION_STATE.writes],
  async run(ctx) {
    const c = ctx.config;
    const rows = ['migration,from,to,time_to_ready_ms,vmrss_kb'];
    for (let i = 1; i <= c.MIGRATIONS; i++) {
      const direction = directionFor(c, i);
      const { source, target } = endpoints(direction);
      const timing = await migrate(ctx, { direction, index: i });
      const pid = await onServer(target)`podman inspect --format ${'{{.State.Pid}}'} ${c.SERVER_CONTAINER}`.dryRun(
        '<server pid>',
      );
      const rss = (await onServer(target)`awk '/^VmRSS/ { print $2 }' /proc/${pid}/status`.dryRun('0')).stdout.trim();
      rows.push([i, source, target, timing?.time_to_ready_ms ?? '', rss].join(','));
      ctx.log.step('rss-loop', `migration ${i} ${source} → ${target}: VmRSS ${rss} kB`);
      if (i < c.MIGRATIONS) await countdown(ctx, `after migration ${i}`, c.POST_MIGRATION);
    }
    if (!ctx.dryRun) writeFileSync(join(ctx.dir, 'rss.csv'), rows.join('\n') + '\n');
  },
};

process.exit(await runPhases(replacePhase(phases, 'migrate', rssLoop)));
