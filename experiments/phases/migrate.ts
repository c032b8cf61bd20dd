// Phase migrate: MIGRATIONS live migrations along MIGRATION_SCHEDULE (lib/migration/schedule.ts;
// alternate: the first server → the second (odd) and back (even)),
// each followed by POST_MIGRATION of measurement (the last one's wait belongs to `post`).
import { directionFor, endpoints, migrate, MIGRATION_STATE, serverLocation } from '../../lib/migration/migrate.ts';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { backendOn } from '../../lib/server/backend.ts';
import { connectionSplit, memberExperiment } from '../../lib/server/balance.ts';
import type { ServerName } from '../../lib/server/net.ts';
import { loadgenHost } from '../../lib/migration/schedule.ts';
import type { RunContext } from '../../lib/run/phases.ts';
import { liveHandles } from '../workload/lifecycle.ts';
import { componentWatch } from '../../lib/migration/precheck.ts';
import type { Phase } from '../../lib/run/phases.ts';
import { countdown } from '../../lib/run/wait.ts';

export const phase: Phase = {
  name: 'migrate',
  description: 'MIGRATIONS live migrations of the server container between the servers, as MIGRATION_SCHEDULE says',
  hosts: (ctx) => [...ctx.config.SERVERS, 'tofino'],
  reads: [...MIGRATION_STATE.reads, 'migrationsDone'],
  writes: [...MIGRATION_STATE.writes, 'migrationsDone'],
  async run(ctx) {
    const n = ctx.config.MIGRATIONS;
    const done = Number(ctx.state.get('migrationsDone') ?? 0);
    if (n === 0) {
      ctx.log.step('migrate', 'MIGRATIONS=0: nothing to do');
      return;
    }
    const times: number[] = [];
    // BACKENDS ≥ 2: the member experiment first (deactivate/re-activate the last backend), then the split after each migration
    const balance = ctx.config.BACKENDS > 1 ? await memberExperiment(ctx) : undefined;
    for (let i = 1; i <= n; i++) {
      if (i <= done && !ctx.dryRun) {
        ctx.log.step('migrate', `migration ${i} already done (state.json), skipping`);
        continue;
      }
      const direction = directionFor(ctx.config, i);
      const t = await migrate(ctx, { direction, index: i });
      if (t && ctx.config.MIGRATION_MODE === 'vip') await repointServerMetrics(ctx, endpoints(direction).target);
      if (t) times.push(Number(t.time_to_ready_ms));
      ctx.state.set('migrationsDone', i);
      if (balance) {
        balance.splits.push(await connectionSplit(ctx, `after migration ${i}`));
        writeFileSync(join(ctx.dir, 'backends.json'), JSON.stringify(balance, null, 2) + '\n');
      }
      if (i < n)
        await countdown(ctx, `post-migration ${i}/${n}`, ctx.config.POST_MIGRATION, undefined, {
          check: componentWatch(ctx, () => serverLocation(ctx)),
        });
    }
    if (times.length) {
      const sorted = [...times].sort((a, b) => a - b);
      ctx.log.step(
        'migrate',
        `${times.length} migration(s): time_to_ready min ${sorted[0]} ms, max ${sorted[sorted.length - 1]} ms`,
      );
    }
  },
};

/**
 * vip mode: the server's metrics port is not behind the VIP, so the collector's forward follows
 * the container to its new backend address (same local port; the collector reconnects per scrape).
 */
async function repointServerMetrics(ctx: RunContext, server: ServerName): Promise<void> {
  const live = liveHandles(ctx.dir);
  if (!live?.serverMetrics) return; // a resumed run: the forward is not this process's
  const c = ctx.config;
  const ip = backendOn(c, server).ip;
  const old = live.serverMetrics;
  await old.close();
  live.serverMetrics = await ctx.host(loadgenHost(c)).forward(c.METRICS_PORT, ip, c.SSH_TUNNEL_METRICS_PORT);
  live.forwards = live.forwards.map((f) => (f === old ? live.serverMetrics! : f));
  ctx.log.step(
    'migrate',
    `server metrics forward 127.0.0.1:${c.SSH_TUNNEL_METRICS_PORT} → ${ip}:${c.METRICS_PORT} via ${loadgenHost(c)}`,
  );
}
