// After a failed migration: put the service back on the source. Quiesced but not checkpointed:
// resume it. Checkpointed: restore it on the source from the kept checkpoint with the engine's own
// restore steps, point the switch back, and wait until it answers through the switch again.
import { sh } from '../hosts/quote.ts';
import { netToolPath } from '../nettool/index.ts';
import { waitForHealth } from '../../experiments/workloads/health.ts';
import { workloadFor } from '../../experiments/workloads/index.ts';
import { controllerFor } from '../switch/controller-client.ts';
import { backendOn, serviceIp } from '../server/backend.ts';
import { RestoreFailure, StepFailure } from './errors.ts';
import { restoreLeg, type Engine, type MigrationRun } from './steps.ts';

export interface Recovery { recovered: boolean; recovery: string }

/** The same run, seen as a restore on the source (its checkpoint, node and host as the target). */
function onSource(r: MigrationRun): MigrationRun {
  return { ...r, dst: r.src, dstNode: r.srcNode, dstDir: r.srcDir, dstTar: r.srcTar, target: r.source,
    v: { ...r.v, extra: {} }, done: new Set(), m: { ...r.m } };
}

export async function recover(e: Engine, r: MigrationRun, failure: Error, reason: string): Promise<Recovery> {
  if (r.ctx.dryRun) return { recovered: false, recovery: '' };
  if (r.step === 'quiesce' && failure instanceof StepFailure && failure.detail?.interrupted) {
    // the source script may or may not have paused the server: a SIGUSR2 now could pause it
    return { recovered: false, recovery: `the source script on ${r.source} did not return; check whether the server there is paused (a second SIGUSR2 resumes it).` };
  }
  try {
    if (r.done.has('checkpoint')) return await restoreOnSource(e, r, reason);
    const sig = workloadFor(r.c).quiesceSignal;
    if (r.done.has('quiesce') && sig) {
      // the signal was sent (or may have been): the same signal again resumes the server
      await r.src.exec(sh`podman kill --signal ${sig} ${r.c.SERVER_CONTAINER}`, { quiet: true, allowFail: true });
      return { recovered: true, recovery: `the server still runs on ${r.source} (resumed).` };
    }
    return { recovered: true, recovery: `nothing was changed on ${r.source}; the server still runs there.` };
  } catch (re) {
    return { recovered: false, recovery: `recovery on ${r.source} also failed: ${(re as Error).message}` };
  }
}

async function restoreOnSource(e: Engine, r: MigrationRun, reason: string): Promise<Recovery> {
  const { ctx, c, source } = r;
  ctx.log.warn(`recovering: restoring the server on ${source} from ${r.srcTar} (${reason})`);
  // a half-created container on the target would hold the name (and on hardware its own storage)
  await r.dst.exec(sh`podman rm -f --ignore ${c.SERVER_CONTAINER}`, { quiet: true, allowFail: true });
  try {
    await r.src.exec(sh`podman rm -f --ignore ${c.SERVER_CONTAINER} >/dev/null`, { quiet: true, allowFail: true });
    const s = onSource(r);
    try {
      await restoreLeg(e, s, r.src);
    } catch (err) {
      throw new Error(`[${source}] restore from ${r.srcTar} failed: ${err instanceof RestoreFailure ? err.diagnosis.summary : (err as Error).message}`);
    }
    ctx.state.set('serverProc', { pid: s.v.pid, id: s.v.id });
    ctx.state.set('serverHost', source);
    const back = backendOn(c, source); // H2 in same-ip mode; vip mode: the source's own backend address
    await controllerFor(ctx).call('POST', '/updateForward', { ipv4: back.ip, sw_port: r.srcNode.swPort, dst_mac: back.mac });
    if (c.MIGRATION_MODE === 'vip' && r.done.has('switchUpdate')) {
      await controllerFor(ctx).call('POST', '/migrateNode', { old_ipv4: backendOn(c, r.target).ip, new_ipv4: back.ip });
    }
    await ctx.host('lakewood').exec(sh`ip neigh replace ${c.H2_IP} lladdr ${c.H2_MAC} dev ${c.MACSHIM_IF} nud permanent`, { quiet: true, allowFail: true });
    ctx.log.warn(`recovered: the server runs on ${source} again and the switch forwards to port ${r.srcNode.swPort}`);
    await waitForHealth(ctx.host('lakewood'), workloadFor(c).health(c), { timeoutMs: 10_000, intervalMs: 200, tool: netToolPath(c, 'lakewood') });
    ctx.log.warn('recovered: the service answers its health check through the switch again');
    return { recovered: true, recovery: `The service was restored on ${source} from the same checkpoint and the switch points there again.` };
  } catch (err) {
    ctx.state.set('serverHost', 'none');
    return { recovered: false, recovery: `Restoring on ${source} ALSO failed: ${(err as Error).message}` };
  }
}
