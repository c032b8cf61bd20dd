// Phase collect: logs and files from every host into the run folder — server container log,
// switch daemon/model and controller logs, the controller's table snapshot — before the run's
// undos remove the container, shim, network and rules.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { controllerFor } from '../../lib/switch/controller-client.ts';
import { serverLocation } from '../../lib/migration/migrate.ts';
import type { Phase, RunContext } from '../../lib/run/phases.ts';
import { logFile } from '../../lib/hosts/daemons.ts';
import { switchDaemon } from '../../lib/modes/switch-daemon.ts';
import { CONTROLLER_NAME } from './controller.ts';
import { remoteDir } from '../../lib/hosts/dirs.ts';

async function tryStep(ctx: RunContext, what: string, fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
  } catch (e) {
    ctx.log.warn(`collect: ${what} failed: ${(e as Error).message.split('\n')[0]}`);
  }
}

export const phase: Phase = {
  name: 'collect',
  description: 'fetch server, switch and controller logs and the table snapshot into the run folder',
  hosts: (ctx) => [...ctx.config.SERVERS, 'tofino'],
  reads: ['serverHost'],
  writes: [],
  async run(ctx) {
    const c = ctx.config;
    const where = serverLocation(ctx);
    const tdir = remoteDir(ctx, 'tofino');
    const daemon = switchDaemon({ config: c, dir: tdir, projectDir: ctx.projectDir }).name;
    // the server and the switch at once: each host's steps stay in order, the hosts do not wait for each other
    await Promise.all([
      tryStep(ctx, `server log (${where})`, async () => {
        const r = await ctx.onServer(where)`podman logs ${c.SERVER_CONTAINER}`.nothrow();
        if (!ctx.dryRun) writeFileSync(join(ctx.dir, 'server.log'), r.stdout + (r.stderr ? `\n--- stderr ---\n${r.stderr}` : ''));
      }),
      (async () => {
        for (const f of [daemon, CONTROLLER_NAME]) {
          await tryStep(ctx, `${f}.log (tofino)`, async () => {
            const r = await ctx.onTofino`tail -n 5000 ${logFile(tdir, f)}`.nothrow();
            if (!ctx.dryRun && r.ok) writeFileSync(join(ctx.dir, `${f}.log`), r.stdout);
          });
        }
        await tryStep(ctx, 'table snapshot', async () => {
          const r = await controllerFor(ctx).call('GET', '/tables', undefined, { timeoutMs: 10_000 });
          if (!ctx.dryRun) writeFileSync(join(ctx.dir, 'tables.json'), JSON.stringify(r.body, null, 2) + '\n');
        });
      })(),
    ]);
    ctx.log.step(
      'collect',
      `logs in ${ctx.dir}; the run's container, shim, network and rules are removed by its undos at the end`,
    );
  },
};
