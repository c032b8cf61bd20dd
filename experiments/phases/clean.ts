// Phase clean: remove what a previous run of this project left on the testbed — the server
// container and p4cf-labelled containers, the labelled macvlan network, the shim, the RST drop
// rule, checkpoint files, and load generator / collector processes recorded in the previous
// run's state.json (checked against their command line). Nothing is killed by name.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { cleanServerScript, killIfCmdline, runScript } from '../../lib/server/infra.ts';
import { checkpointDir } from '../../lib/migration/migrate.ts';
import { serverNode, SERVERS } from '../../lib/server/net.ts';
import type { Phase, RunContext } from '../../lib/run/phases.ts';
import { CLIENT_BUNDLES } from '../workloads/index.ts';

/** state.json of the newest other run folder in RESULTS_DIR, if any. */
export function previousState(
  resultsDir: string,
  currentDir: string,
): { dir: string; state: Record<string, unknown> } | undefined {
  if (!existsSync(resultsDir)) return undefined;
  const runs = readdirSync(resultsDir)
    .filter((d) => d.startsWith('run_'))
    .sort()
    .reverse();
  for (const d of runs) {
    const dir = join(resultsDir, d);
    if (resolve(dir) === resolve(currentDir)) continue;
    const f = join(dir, 'state.json');
    if (!existsSync(f)) continue;
    try {
      return { dir, state: JSON.parse(readFileSync(f, 'utf8')) as Record<string, unknown> };
    } catch {
      /* unreadable: an older one */
    }
  }
  return undefined;
}

/** PIDs of load generator processes a state records (key names of the workload phase). */
export function stalePids(state: Record<string, unknown>): { lakewood: number[]; local: number[] } {
  const num = (v: unknown) => (typeof v === 'number' && Number.isInteger(v) && v > 1 ? [v] : []);
  const w = (state.workload ?? {}) as Record<string, unknown>;
  return {
    lakewood: [...num(w.loadgenPid)],
    local: [...num(w.collectorPid)],
  };
}

export async function cleanServers(ctx: Pick<RunContext, 'config' | 'onServer'>, say: (m: string) => void): Promise<void> {
  const c = ctx.config;
  // One after the other: on the local testbed both servers share podman storage.
  for (const name of SERVERS) {
    const script = cleanServerScript(c, serverNode(c, name), {
      shim: name === 'lakewood',
      checkpointDir: checkpointDir(c, name),
    });
    await runScript(ctx.onServer(name), script, 'clean', say);
  }
}

export const phase: Phase = {
  name: 'clean',
  description:
    'remove what a previous run left on the servers (container, network, shim, rules, checkpoints, stale load generator)',
  hosts: () => ['lakewood', 'loveland', 'local'],
  reads: [],
  writes: ['serverHost'],
  async run(ctx) {
    const { onServer, onLocal } = ctx;
    const say = (m: string) => ctx.log.step('clean', m);
    const prev = ctx.dryRun ? undefined : previousState(resolve(ctx.projectDir, ctx.config.RESULTS_DIR), ctx.dir);
    if (prev) {
      // the previous run's load generator and collector, by recorded PID and command line
      const pids = stalePids(prev.state);
      for (const pid of pids.lakewood)
        for (const b of CLIENT_BUNDLES) await runScript(onServer('lakewood'), killIfCmdline(pid, b), 'clean', say);
      for (const pid of pids.local) await runScript(onLocal, killIfCmdline(pid, 'collector'), 'clean', say);
    }
    await cleanServers(ctx, say);
    ctx.state.set('serverHost', undefined);
  },
};
