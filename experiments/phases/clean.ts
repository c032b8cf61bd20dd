// Phase clean: remove what a previous run of this project left on the testbed — the server
// container and p4cf-labelled containers, the labelled macvlan network, the shim, the RST drop
// rule, checkpoint files, and load generator / collector processes recorded in the previous
// run's state.json (checked against their command line). Nothing is killed by name.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { cleanServerScript, killIfCmdline, runScript } from '../../lib/server/infra.ts';
import { checkpointDir } from '../../lib/migration/migrate.ts';
import { serverNode } from '../../lib/server/net.ts';
import { loadgenHost } from '../../lib/migration/schedule.ts';
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

/** PIDs of load generator processes a state records (key names of the workload phase), and where the load generator ran. */
export function stalePids(state: Record<string, unknown>): { loadgen: number[]; loadgenHost?: string; local: number[] } {
  const num = (v: unknown) => (typeof v === 'number' && Number.isInteger(v) && v > 1 ? [v] : []);
  const w = (state.workload ?? {}) as Record<string, unknown>;
  return {
    loadgen: [...num(w.loadgenPid)],
    // older runs do not record it: then it is this config's LOADGEN_HOST
    loadgenHost: typeof w.loadgenHost === 'string' ? w.loadgenHost : undefined,
    local: [...num(w.collectorPid)],
  };
}

export async function cleanServers(ctx: Pick<RunContext, 'config' | 'onServer'>, say: (m: string) => void): Promise<void> {
  const c = ctx.config;
  const one = (name: string) =>
    runScript(
      ctx.onServer(name),
      cleanServerScript(c, serverNode(c, name), { shim: name === loadgenHost(c), checkpointDir: checkpointDir(c, name) }),
      'clean',
      say,
    );
  // One after the other on the local testbed: its servers share one podman storage (and network
  // definition), so two cleans would race for the same objects. A lab's servers are independent.
  if (c.TESTBED === 'local') for (const name of c.SERVERS) await one(name);
  else await Promise.all(c.SERVERS.map(one));
}

/** Stop the load generator and collector a previous run's state records (checked against their command line). */
export async function killStale(
  ctx: Pick<RunContext, 'config' | 'onServer' | 'onLocal'>,
  state: Record<string, unknown>,
  say: (m: string) => void,
): Promise<void> {
  const pids = stalePids(state);
  const lg = pids.loadgenHost && ctx.config.SERVERS.includes(pids.loadgenHost) ? pids.loadgenHost : loadgenHost(ctx.config);
  for (const pid of pids.loadgen)
    for (const b of CLIENT_BUNDLES) await runScript(ctx.onServer(lg), killIfCmdline(pid, b), 'clean', say);
  for (const pid of pids.local) await runScript(ctx.onLocal, killIfCmdline(pid, 'collector'), 'clean', say);
}

export const phase: Phase = {
  name: 'clean',
  description:
    'remove what a previous run left on the servers (container, network, shim, rules, checkpoints, stale load generator)',
  hosts: (ctx) => [...ctx.config.SERVERS, 'local'],
  reads: [],
  writes: ['serverHost'],
  async run(ctx) {
    const say = (m: string) => ctx.log.step('clean', m);
    const prev = ctx.dryRun ? undefined : previousState(resolve(ctx.projectDir, ctx.config.RESULTS_DIR), ctx.dir);
    // the previous run's load generator and collector, by recorded PID and command line
    if (prev) await killStale(ctx, prev.state, say);
    await cleanServers(ctx, say);
    ctx.state.set('serverHost', undefined);
  },
};
