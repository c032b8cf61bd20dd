// Phase workload: health-gate the server through the data path, start the load generator on
// lakewood (to H2_IP through the shim, never through SSH), SSH forwards for the two metrics
// endpoints only, and the collector on this machine writing metrics.csv into the run folder.
// stopWorkload() (called by the post phase) ends them in the order that keeps the last CSV row live.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { bundleRemote } from '../../lib/hosts/bundle.ts';
import { hostDir } from '../../lib/config/load.ts';
import { waitUntil } from '../../lib/run/health.ts';
import type { Phase, RunContext } from '../../lib/run/phases.ts';
import { sh, stopGroupScript, type BackgroundProc, type Forward, type Host } from '../../lib/hosts/remote.ts';
import { collectorArgs } from '../workload/commands.ts';
import { waitForHealth } from '../workloads/health.ts';
import { workloadFor } from '../workloads/index.ts';
import { sampleValue, scrapeMetrics } from '../workload/promtext.ts';

export const STATE_KEY = 'workload';

export interface WorkloadState {
  loadgenPid: number; loadgenLog: string;        // on lakewood
  collectorPid: number;                           // on this machine
  csv: string; markFile: string; collectorLog: string;
  forwards: { loadgen: number; server: number };  // local ports
  stopped?: boolean;
}

/** Files of the collector in a run folder. */
export const workloadFiles = (dir: string) => ({
  csv: join(dir, 'metrics.csv'), mark: join(dir, '.migration_mark'), log: join(dir, 'collector.log'),
  stdout: join(dir, 'collector.stdout.log'), loadgenLog: join(dir, 'loadgen.log'),
});

/** Marks a migration in metrics.csv: the collector sets migration_event=1 on its next tick. */
export function markMigration(ctx: Pick<RunContext, 'dir' | 'dryRun'>): void {
  if (!ctx.dryRun) writeFileSync(workloadFiles(ctx.dir).mark, `${Date.now()}\n`);
}

interface Live { collector?: BackgroundProc; loadgen?: BackgroundProc; forwards: Forward[] }
// Handles of this process, by run folder; a resumed run only has the PIDs in state.json.
const live = new Map<string, Live>();

async function ensureLoadgen(ctx: RunContext, lakewood: Host, dir: string): Promise<string> {
  const bundle = workloadFor(ctx.config).client.bundle;
  const path = `${dir}/${bundle}`;
  const r = await lakewood.exec(sh`test -f ${path}`, { allowFail: true, quiet: true });
  if (r.code !== 0 && !ctx.dryRun) {
    const dist = await bundleRemote(ctx.projectDir, { require: [bundle] });
    ctx.log.step('workload', `${bundle} missing on lakewood (sync skipped?); uploading it to ${path}`);
    await lakewood.exec(sh`mkdir -p ${dir}`, { quiet: true });
    await lakewood.upload(join(dist, bundle), path);
  }
  return path;
}

export const phase: Phase = {
  name: 'workload',
  description: 'start the load generator on lakewood, metrics forwards and the collector (metrics.csv)',
  hosts: () => ['lakewood', 'local'],
  reads: ['remoteDirs'],
  writes: [STATE_KEY],
  async run(ctx) {
    const c = ctx.config;
    const w = workloadFor(c);
    const step = (m: string) => ctx.log.step('workload', m);
    const lakewood = ctx.host('lakewood');
    const local = ctx.host('local');
    const files = workloadFiles(ctx.dir);
    const state: Live = { forwards: [] };
    live.set(ctx.dir, state);
    // Registered before the processes start, so it runs after their own undos (LIFO: collector,
    // forwards, load generator) and still fetches loadgen.log when the run fails or ends early.
    ctx.cleanup.add('stop workload (collector, load generator, forwards)', () => stopWorkload(ctx), { timeoutMs: 40_000 });

    // Like the original: the server must answer /health through the data path (40 x 0.5 s).
    await waitForHealth(lakewood, w.health(c), { timeoutMs: 20_000, intervalMs: 500, log: ctx.log, dryRun: ctx.dryRun });

    const dir = ctx.state.get<Record<string, string>>('remoteDirs')?.lakewood ?? hostDir(c.REMOTE_PROJECT_DIR, 'lakewood');
    const loadgenPath = await ensureLoadgen(ctx, lakewood, dir);
    const loadgenLog = `${dir}/logs/loadgen.log`;
    await lakewood.exec(sh`mkdir -p ${dir}/logs && rm -f ${loadgenLog}`, { quiet: true });
    // exec: the recorded PID is node itself, so a signal reaches it directly.
    state.loadgen = await lakewood.background(`exec node ${sh`${loadgenPath} ${w.client.args(c)}`}`, { name: 'loadgen', logFile: loadgenLog });
    step(`load generator pid ${state.loadgen.pid} on lakewood → ${w.client.describe(c)}`);

    state.forwards.push(await lakewood.forward(c.LOADGEN_METRICS_PORT, '127.0.0.1', c.SSH_TUNNEL_LOCAL_PORT));
    if (w.serverMetrics) state.forwards.push(await lakewood.forward(c.METRICS_PORT, c.H2_IP, c.SSH_TUNNEL_METRICS_PORT));
    step(`forwards: 127.0.0.1:${c.SSH_TUNNEL_LOCAL_PORT} → lakewood 127.0.0.1:${c.LOADGEN_METRICS_PORT}; 127.0.0.1:${c.SSH_TUNNEL_METRICS_PORT} → ${c.H2_IP}:${c.METRICS_PORT} via lakewood`);

    if (!ctx.dryRun) {
      await waitUntil(lakewood, `load generator: ${c.LOADGEN_CONNECTIONS} connections open`, async () => {
        const s = await scrapeMetrics(`http://127.0.0.1:${c.SSH_TUNNEL_LOCAL_PORT}/metrics`, 3000);
        const n = sampleValue(s, w.client.connectedMetric) ?? 0;
        return { ok: n >= c.LOADGEN_CONNECTIONS, state: `${n}/${c.LOADGEN_CONNECTIONS} connected` };
      }, { timeoutMs: 30_000 + c.LOADGEN_CONNECTIONS * c.LOADGEN_RAMP, intervalMs: 500, log: ctx.log });
    }

    const collectorFile = join(ctx.projectDir, 'experiments/workload/collector.ts');
    state.collector = await local.background(
      `exec ${sh`${process.execPath} --import tsx ${collectorFile} ${[...collectorArgs(c, files), ...w.collectorArgs]}`}`,
      { name: 'collector', logFile: files.stdout, cwd: ctx.projectDir });
    step(`collector pid ${state.collector.pid} → ${files.csv} every ${c.METRICS_INTERVAL} ms`);

    const st: WorkloadState = {
      loadgenPid: state.loadgen.pid, loadgenLog, collectorPid: state.collector.pid,
      csv: files.csv, markFile: files.mark, collectorLog: files.log,
      forwards: { loadgen: c.SSH_TUNNEL_LOCAL_PORT, server: c.SSH_TUNNEL_METRICS_PORT },
    };
    ctx.state.set(STATE_KEY, st);

    if (!ctx.dryRun) {
      await waitUntil(local, 'first metrics.csv rows', async () => {
        const rows = existsSync(files.csv) ? readFileSync(files.csv, 'utf8').trim().split('\n').length - 1 : 0;
        return { ok: rows >= 2, state: `${rows} row(s)` };
      }, { timeoutMs: 10_000 + 3 * c.METRICS_INTERVAL, intervalMs: 250, log: ctx.log });
    }
  },
};

async function killByPid(host: Host, pid: number, mustContain: string, what: string, log: (m: string) => void): Promise<void> {
  // Only the PID we recorded, and only if it still runs our program (the PID may have been reused).
  const r = await host.exec(sh`tr '\0' ' ' < /proc/${pid}/cmdline 2>/dev/null`, { allowFail: true, quiet: true });
  if (r.code !== 0 || !r.stdout.includes(mustContain)) { log(`${what} pid ${pid} on ${host.name} is not running`); return; }
  // background() started it with setsid: it leads its own process group
  await host.exec(sh`sh -c ${stopGroupScript(pid)}`, { quiet: true, timeoutMs: 15_000 });
}

/** Stops the workload: collector first (SIGTERM → it writes a last, still live row), then the load
 * generator (its log is fetched into the run folder as loadgen.log), then the forwards.
 * Idempotent; works from state.json alone after --resume. */
export async function stopWorkload(ctx: RunContext): Promise<void> {
  const st = ctx.state.get<WorkloadState>(STATE_KEY);
  const handles = live.get(ctx.dir);
  const step = (m: string) => ctx.log.step('workload', m);
  if (!st && !handles) { step('no workload recorded; nothing to stop'); return; }
  if (st?.stopped && !handles) return;
  const local = ctx.host('local');
  const lakewood = ctx.host('lakewood');
  const files = workloadFiles(ctx.dir);
  const errors: string[] = [];
  const attempt = async (what: string, fn: () => Promise<void>) => {
    try { await fn(); } catch (e) { errors.push(`${what}: ${(e as Error).message}`); }
  };

  await attempt('collector', async () => {
    if (handles?.collector) await handles.collector.stop();
    else if (st) await killByPid(local, st.collectorPid, 'collector', 'collector', step);
    step('collector stopped');
  });
  await attempt('load generator', async () => {
    if (handles?.loadgen) await handles.loadgen.stop();
    else if (st) await killByPid(lakewood, st.loadgenPid, workloadFor(ctx.config).client.bundle, 'load generator', step);
    if (st?.loadgenLog) {
      await lakewood.download(st.loadgenLog, files.loadgenLog);
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
