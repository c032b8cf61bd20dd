// The workload's state across phases: its files in the run folder, what state.json records, the
// live handles of this process, and stopWorkload() (called by `post` and by the run's undo), which
// ends the pieces in the order that keeps the last CSV row live.
import { loadgenHost } from '../../lib/migration/schedule.ts';
import { readFileSync } from 'node:fs';
import { workloadFor } from '../workloads/index.ts';
import { join } from 'node:path';
import { stopGroupScript } from '../../lib/hosts/exec.ts';
import type { OnHost } from '../../lib/hosts/shell.ts';
import type { BackgroundProc, Forward } from '../../lib/hosts/types.ts';
import type { RunContext } from '../../lib/run/context.ts';

export const STATE_KEY = 'workload';

export interface WorkloadState {
  loadgenPid: number;
  /** The server it runs on (LOADGEN_HOST). */
  loadgenHost?: string;
  loadgenLog: string; // on loadgenHost
  collectorPid: number; // on this machine
  csv: string;
  markFile: string;
  collectorLog: string;
  forwards: { loadgen: number; server: number }; // local ports
  stopped?: boolean;
}

/** Files of the collector in a run folder. */
export const workloadFiles = (dir: string) => ({
  csv: join(dir, 'metrics.csv'),
  mark: join(dir, '.migration_mark'),
  log: join(dir, 'collector.log'),
  stdout: join(dir, 'collector.stdout.log'),
  loadgenLog: join(dir, 'loadgen.log'),
});

export interface LiveWorkload {
  collector?: BackgroundProc;
  loadgen?: BackgroundProc;
  forwards: Forward[];
  serverMetrics?: Forward;
}
// Handles of this process, by run folder; a resumed run only has the PIDs in state.json.
const live = new Map<string, LiveWorkload>();

/** The live handles of the workload the run in `dir` starts now. */
export function liveWorkload(dir: string): LiveWorkload {
  const l: LiveWorkload = { forwards: [] };
  live.set(dir, l);
  return l;
}

/** The handles of the workload running for `dir` in this process (undefined after a resume). */
export const liveHandles = (dir: string): LiveWorkload | undefined => live.get(dir);

async function killByPid(on: OnHost, pid: number, mustContain: string, what: string, log: (m: string) => void): Promise<void> {
  // Only the PID we recorded, and only if it still runs our program (the PID may have been reused).
  const r = await on`tr '\0' ' ' < /proc/${pid}/cmdline 2>/dev/null`.nothrow();
  if (!r.ok || !r.stdout.includes(mustContain)) {
    log(`${what} pid ${pid} on ${on.hostName} is not running`);
    return;
  }
  // background() started it with setsid: it leads its own process group
  await on`sh -c ${stopGroupScript(pid)}`.timeout(15_000);
}

/** Stops the workload: collector first (SIGTERM → it writes a last, still live row), then the load
 * generator (its log is fetched into the run folder as loadgen.log), then the forwards.
 * Idempotent; works from state.json alone after --resume. */
export async function stopWorkload(ctx: RunContext): Promise<void> {
  const st = ctx.state.get<WorkloadState>(STATE_KEY);
  const handles = live.get(ctx.dir);
  const step = (m: string) => ctx.log.step('workload', m);
  if (!st && !handles) {
    step('no workload recorded; nothing to stop');
    return;
  }
  if (st?.stopped && !handles) return;
  const files = workloadFiles(ctx.dir);
  const errors: string[] = [];
  const attempt = async (what: string, fn: () => Promise<void>) => {
    try {
      await fn();
    } catch (e) {
      errors.push(`${what}: ${(e as Error).message}`);
    }
  };

  await attempt('collector', async () => {
    if (handles?.collector) await handles.collector.stop();
    else if (st) await killByPid(ctx.onLocal, st.collectorPid, 'collector', 'collector', step);
    step('collector stopped');
  });
  await attempt('load generator', async () => {
    if (handles?.loadgen) await handles.loadgen.stop();
    else if (st)
      await killByPid(
        ctx.onServer(st.loadgenHost ?? loadgenHost(ctx.config)),
        st.loadgenPid,
        workloadFor(ctx.config).client.bundle,
        'load generator',
        step,
      );
    if (st?.loadgenLog) {
      await ctx.host(st.loadgenHost ?? loadgenHost(ctx.config)).download(st.loadgenLog, files.loadgenLog);
      const summary = ctx.dryRun ? undefined : /summary (\{.*\})/.exec(readFileSync(files.loadgenLog, 'utf8'))?.[1];
      step(`load generator stopped; log in loadgen.log${summary ? `; ${summary}` : ''}`);
    }
  });
  await attempt('forwards', async () => {
    for (const f of handles?.forwards ?? []) await f.close();
  });
  live.delete(ctx.dir);
  if (st) ctx.state.set(STATE_KEY, { ...st, stopped: true });
  if (errors.length) throw new Error(`stopWorkload: ${errors.join('; ')}`);
}
