// After a failed migration: put the service back on the source. Quiesced but not checkpointed:
// resume it. Checkpointed: restore it on the source from the kept checkpoint with the engine's own
// restore steps, point the switch back, and wait until it answers through the switch again.
import { loadgenHost } from './schedule.ts';
import { sh } from '../hosts/quote.ts';
import { netToolPath } from '../nettool/index.ts';
import { waitForHealth } from '../../experiments/workloads/health.ts';
import { workloadFor } from '../../experiments/workloads/index.ts';
import { controllerFor } from '../switch/controller-client.ts';
import { backendOn } from '../server/backend.ts';
import { LazyPagesFailure, RestoreFailure, StepFailure } from './errors.ts';
import { endHelpers } from './lazy-procs.ts';
import { restoreLeg, type Engine, type MigrationRun } from './steps.ts';

export interface Recovery {
  recovered: boolean;
  recovery: string;
}

/** The same run, seen as a restore on the source (its checkpoint, node and host as the target). */
function onSource(r: MigrationRun): MigrationRun {
  return {
    ...r,
    dst: r.src,
    dstNode: r.srcNode,
    dstDir: r.srcDir,
    dstTar: r.srcTar,
    target: r.source,
    v: { ...r.v, extra: {} },
    done: new Set(),
    m: { ...r.m },
  };
}

export async function recover(e: Engine, r: MigrationRun, failure: Error, reason: string): Promise<Recovery> {
  if (r.ctx.dryRun) return { recovered: false, recovery: '' };
  await endHelpers(r); // the lazy engine's page server and lazy-pages daemon, if they still run
  // after the switch, with pages lost: the failure says what is left (lazy-wait.ts; no rollback)
  if (failure instanceof LazyPagesFailure) return { recovered: false, recovery: failure.state.recovery };
  if (failure instanceof StepFailure && failure.detail?.serverDown && !r.done.has('quiesce')) {
    return {
      recovered: false,
      recovery: `nothing was changed; the server container was already down on ${failure.detail.host ?? r.source} before the migration.`,
    };
  }
  if (failure instanceof StepFailure && failure.detail?.aborted) reason = `interrupted before step ${failure.step}`;
  if (r.step === 'quiesce' && failure instanceof StepFailure && failure.detail?.interrupted) {
    // the source script may or may not have paused the server: a SIGUSR2 now could pause it
    return {
      recovered: false,
      recovery: `the source script on ${r.source} did not return; check whether the server there is paused (a second SIGUSR2 resumes it).`,
    };
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
  // Free the target first, in this order, every time: a listener still serving would hold the
  // transfer port; a half-created container would hold the name (and on hardware its own storage);
  // a partial checkpoint holds the disk — on the local testbed the same disk as podman's storage, so
  // with a full target disk the restore on the source failed or not depending on how much the
  // transfer had written before it stopped.
  await stopListener(r);
  // runc/lazy restore the one record both servers share: removing it would leave nothing to restore
  // into; stopped (a target that already runs it), it is restored on the source like after a dump
  const free = e.sameRecord
    ? sh`podman stop --ignore -t 0 ${c.SERVER_CONTAINER} >/dev/null`
    : sh`podman rm -f --ignore ${c.SERVER_CONTAINER} >/dev/null`;
  await r.dst.exec(free, { quiet: true, allowFail: true });
  if (r.target !== r.source) await removePartial(r);
  try {
    if (!e.sameRecord) await r.src.exec(free, { quiet: true, allowFail: true });
    // A restored socket must not get a packet before CRIU has rebuilt it, or the kernel answers RST
    // and the connection dies; a migration guarantees that by switching only after the restore.
    // Here the switch may still point at the source: point it away (at the target's port, where
    // nothing answers for this address) while the source restores, and back afterwards.
    const back = backendOn(c, source); // H2 in same-ip mode; vip mode: the source's own backend address
    if (!r.done.has('switchUpdate')) {
      await controllerFor(ctx)
        .call('POST', '/updateForward', { ipv4: back.ip, sw_port: r.dstNode.swPort, dst_mac: back.mac })
        .catch((ce: Error) =>
          ctx.log.warn(`recovering: could not hold the switch off ${source} during the restore (${ce.message})`),
        );
    }
    const s = onSource(r);
    try {
      await restoreLeg(e, s, r.src);
    } catch (err) {
      throw new Error(
        `[${source}] restore from ${r.srcTar} failed: ${err instanceof RestoreFailure ? err.diagnosis.summary : (err as Error).message}`,
      );
    }
    ctx.state.set('serverProc', { pid: s.v.pid, id: s.v.id });
    ctx.state.set('serverHost', source);
    // Put the switch back. If the controller cannot (it is what failed), the switch was not moved
    // either when the switch update never reached it: the data path below decides.
    let switchNote = `the switch forwards to port ${r.srcNode.swPort}`;
    try {
      await controllerFor(ctx).call('POST', '/updateForward', { ipv4: back.ip, sw_port: r.srcNode.swPort, dst_mac: back.mac });
      if (c.MIGRATION_MODE === 'vip' && r.done.has('switchUpdate')) {
        await controllerFor(ctx).call('POST', '/migrateNode', { old_ipv4: backendOn(c, r.target).ip, new_ipv4: back.ip });
      }
    } catch (ce) {
      switchNote = `the switch could not be pointed back (${(ce as Error).message}); it was never moved if the service answers through it`;
      ctx.log.warn(`recovering: ${switchNote}`);
    }
    await ctx.host(loadgenHost(c)).exec(sh`ip neigh replace ${c.H2_IP} lladdr ${c.H2_MAC} dev ${c.MACSHIM_IF} nud permanent`, {
      quiet: true,
      allowFail: true,
    });
    ctx.log.warn(`recovered: the server runs on ${source} again; ${switchNote}`);
    await waitForHealth(ctx.host(loadgenHost(c)), workloadFor(c).health(c), {
      timeoutMs: 10_000,
      intervalMs: 200,
      tool: netToolPath(c, loadgenHost(c)),
    });
    ctx.log.warn('recovered: the service answers its health check through the switch again');
    return {
      recovered: true,
      recovery: `The service was restored on ${source} from the same checkpoint and answers through the switch again (${switchNote}).`,
    };
  } catch (err) {
    ctx.state.set('serverHost', 'none');
    return { recovered: false, recovery: `Restoring on ${source} ALSO failed: ${(err as Error).message}` };
  }
}

/** The source's transfer listener, if it still runs (its process group; a reused PID is left alone). */
async function stopListener(r: MigrationRun): Promise<void> {
  const pid = r.v.listener;
  if (!pid || !Number.isInteger(pid) || pid <= 1) return;
  // only a `timeout …` leader (how the offer started it) is ours to stop
  await r.src.exec(`if grep -qs '^timeout' /proc/${pid}/cmdline; then kill -TERM -${pid} 2>/dev/null; fi; true`, {
    quiet: true,
    allowFail: true,
    timeoutMs: 10_000,
  });
}

/** What a failed transfer wrote on the target: the next restore there must not find it, nor the disk miss its space. */
async function removePartial(r: MigrationRun): Promise<void> {
  const res = await r.dst.exec(sh`rm -f ${r.dstTar}`, { quiet: true, allowFail: true, timeoutMs: 15_000 });
  if (res.code === 0) r.ctx.log.warn(`recovering: removed the checkpoint copy ${r.target}:${r.dstTar}`);
  else r.ctx.log.warn(`recovering: could not remove ${r.target}:${r.dstTar} (exit ${res.code}): ${res.stderr.trim()}`);
}
