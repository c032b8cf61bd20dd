// Phase workload: health-gate the server through the data path, start the load generator on
// LOADGEN_HOST (to H2_IP through the shim, never through SSH), SSH forwards for the two metrics
// endpoints only, and the collector on this machine writing metrics.csv into the run folder.
// stopWorkload() (workload/lifecycle.ts, called by the post phase) ends them.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { bundleRemote } from '../../lib/hosts/bundle.ts';
import { sh } from '../../lib/hosts/quote.ts';
import { waitUntil } from '../../lib/run/health.ts';
import { netToolPath } from '../../lib/nettool/index.ts';
import type { Phase, RunContext } from '../../lib/run/phases.ts';
import { remoteDir } from '../../lib/hosts/dirs.ts';
import { loadgenHost } from '../../lib/migration/schedule.ts';
import { collectorArgs } from '../workload/commands.ts';
import { waitForHealth } from '../workloads/health.ts';
import { workloadFor } from '../workloads/index.ts';
import { liveWorkload, STATE_KEY, stopWorkload, workloadFiles, type WorkloadState } from '../workload/lifecycle.ts';
import { sampleValue, scrapeMetrics } from '../workload/promtext.ts';

async function ensureLoadgen(ctx: RunContext, dir: string): Promise<string> {
  const lg = loadgenHost(ctx.config);
  const on = ctx.onServer(lg);
  const bundle = workloadFor(ctx.config).client.bundle;
  const path = `${dir}/${bundle}`;
  const r = await on`test -f ${path}`.nothrow();
  if (!r.ok && !ctx.dryRun) {
    const dist = await bundleRemote(ctx.projectDir, { require: [bundle] });
    ctx.log.step('workload', `${bundle} missing on ${lg} (sync skipped?); uploading it to ${path}`);
    await on`mkdir -p ${dir}`;
    await ctx.host(lg).upload(join(dist, bundle), path);
  }
  return path;
}

export const phase: Phase = {
  name: 'workload',
  description: 'start the load generator on LOADGEN_HOST, metrics forwards and the collector (metrics.csv)',
  hosts: (ctx) => [loadgenHost(ctx.config), 'local'],
  reads: ['remoteDirs'],
  writes: [STATE_KEY],
  async run(ctx) {
    const { config: c, onServer } = ctx;
    const w = workloadFor(c);
    const step = (m: string) => ctx.log.step('workload', m);
    const lg = loadgenHost(c);
    const lgHost = ctx.host(lg);
    const local = ctx.host('local');
    const files = workloadFiles(ctx.dir);
    const state = liveWorkload(ctx.dir);
    // Registered before the processes start, so it runs after their own undos (LIFO: collector,
    // forwards, load generator) and still fetches loadgen.log when the run fails or ends early.
    ctx.cleanup.add('stop workload (collector, load generator, forwards)', () => stopWorkload(ctx), { timeoutMs: 40_000 });

    // Like the original: the server must answer /health through the data path (40 x 0.5 s).
    await waitForHealth(lgHost, w.health(c), {
      timeoutMs: 20_000,
      intervalMs: 500,
      log: ctx.log,
      dryRun: ctx.dryRun,
      tool: netToolPath(c, lg),
    });

    const dir = ctx.state.get<Record<string, string>>('remoteDirs')?.[lg] ?? remoteDir(ctx, lg);
    const loadgenPath = await ensureLoadgen(ctx, dir);
    const loadgenLog = `${dir}/logs/loadgen.log`;
    await onServer(lg)`mkdir -p ${dir}/logs && rm -f ${loadgenLog}`;
    // exec: the recorded PID is node itself, so a signal reaches it directly.
    state.loadgen = await lgHost.background(`exec node ${sh`${loadgenPath} ${w.client.args(c)}`}`, {
      name: 'loadgen',
      logFile: loadgenLog,
    });
    step(`load generator pid ${state.loadgen.pid} on ${lg} → ${w.client.describe(c)}`);

    state.forwards.push(await lgHost.forward(c.LOADGEN_METRICS_PORT, '127.0.0.1', c.SSH_TUNNEL_LOCAL_PORT));
    // the metrics port is not behind the VIP: this forward goes to the backend's own address
    // (a vip-mode migration re-points it, lib/migration/vip.ts)
    if (w.serverMetrics) {
      state.serverMetrics = await lgHost.forward(c.METRICS_PORT, c.H2_IP, c.SSH_TUNNEL_METRICS_PORT);
      state.forwards.push(state.serverMetrics);
    }
    step(
      `forwards: 127.0.0.1:${c.SSH_TUNNEL_LOCAL_PORT} → ${lg} 127.0.0.1:${c.LOADGEN_METRICS_PORT}; 127.0.0.1:${c.SSH_TUNNEL_METRICS_PORT} → ${c.H2_IP}:${c.METRICS_PORT} via ${lg}`,
    );

    if (!ctx.dryRun) {
      await waitUntil(
        lgHost,
        `load generator: ${c.LOADGEN_CONNECTIONS} connections open`,
        async () => {
          const s = await scrapeMetrics(`http://127.0.0.1:${c.SSH_TUNNEL_LOCAL_PORT}/metrics`, 3000);
          const n = sampleValue(s, w.client.connectedMetric) ?? 0;
          return { ok: n >= c.LOADGEN_CONNECTIONS, state: `${n}/${c.LOADGEN_CONNECTIONS} connected` };
        },
        { timeoutMs: 30_000 + c.LOADGEN_CONNECTIONS * c.LOADGEN_RAMP, intervalMs: 500, log: ctx.log },
      );
    }

    const collectorFile = join(ctx.projectDir, 'experiments/workload/collector.ts');
    state.collector = await local.background(
      `exec ${sh`${process.execPath} --import tsx ${collectorFile} ${[...collectorArgs(c, files), ...w.collectorArgs]}`}`,
      { name: 'collector', logFile: files.stdout, cwd: ctx.projectDir },
    );
    step(`collector pid ${state.collector.pid} → ${files.csv} every ${c.METRICS_INTERVAL} ms`);

    const st: WorkloadState = {
      loadgenPid: state.loadgen.pid,
      loadgenHost: lg,
      loadgenLog,
      collectorPid: state.collector.pid,
      csv: files.csv,
      markFile: files.mark,
      collectorLog: files.log,
      forwards: { loadgen: c.SSH_TUNNEL_LOCAL_PORT, server: c.SSH_TUNNEL_METRICS_PORT },
    };
    ctx.state.set(STATE_KEY, st);

    if (!ctx.dryRun) {
      await waitUntil(
        local,
        'first metrics.csv rows',
        async () => {
          const rows = existsSync(files.csv) ? readFileSync(files.csv, 'utf8').trim().split('\n').length - 1 : 0;
          return { ok: rows >= 2, state: `${rows} row(s)` };
        },
        { timeoutMs: 10_000 + 3 * c.METRICS_INTERVAL, intervalMs: 250, log: ctx.log },
      );
    }
  },
};
