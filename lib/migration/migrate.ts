// One live migration of the server container between lakewood and loveland, the steps of the
// published procedure in order: target preparation ∥ quiesce, drain, checkpoint, transfer,
// remove the source, restore, network fix-up, resume, switch update, post-switch steps.
// A failed restore is diagnosed from CRIU's log and the service is put back on the source
// from the same checkpoint before the error is raised.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../config/keys.ts';
import { hostDir } from '../config/load.ts';
import type { Host, Plan } from '../hosts/remote.ts';
import { sh, tail } from '../hosts/remote.ts';
import { checkpointScript, markMs, parseScriptOutput, pullScript, restoreScript } from './scripts.ts';
import { controllerFor } from '../switch/controller-client.ts';
import { waitForHealth } from '../../experiments/workloads/health.ts';
import { workloadFor } from '../../experiments/workloads/index.ts';
import { diagnoseRestore, formatDiagnosis } from './diagnosis.ts';
import {
  inNetns, serverNode, type ServerName,
} from '../server/net.ts';
import { computeTiming, formatTimingTxt, nowNs, type MigrationMarks, type MigrationTiming } from './timing.ts';
import { calibrateTransfer, type TransferMethod } from './transfer.ts';

export type Direction = 'lakewood_loveland' | 'loveland_lakewood';
export const DIRECTIONS: readonly Direction[] = ['lakewood_loveland', 'loveland_lakewood'];

/** The parts of the run context a migration uses (a RunContext satisfies it). */
export interface MigrationContext {
  config: Config;
  dir: string;
  log: { info(m: string): void; warn(m: string): void; error(m: string): void; step(p: string, m: string): void };
  cleanup: { add(label: string, fn: () => Promise<void> | void, opts?: { timeoutMs?: number }): () => void };
  state: { get(key: string): unknown; set(key: string, value: unknown): void };
  host(name: 'tofino' | 'lakewood' | 'loveland' | 'local'): Host;
  dryRun: boolean;
  /** Dry run: where the controller calls are written instead of sent. */
  plan?: Plan;
}

/**
 * Test hook, documented in the README: P4CF_TEST_CORRUPT_CHECKPOINT=1 damages the TCP images
 * inside the checkpoint on the target after the transfer was verified, so the restore fails
 * the way a damaged checkpoint would (used by test/e2e.test.ts to exercise the recovery path).
 */
export const CORRUPT_HOOK = 'P4CF_TEST_CORRUPT_CHECKPOINT';

/** Migration i (1-based) goes lakewood→loveland when odd, back when even. */
export function directionFor(index: number): Direction {
  if (!Number.isInteger(index) || index < 1) throw new Error(`migration index must be an integer ≥ 1, got ${index}`);
  return index % 2 === 1 ? 'lakewood_loveland' : 'loveland_lakewood';
}

export function parseDirection(s: string): Direction {
  if ((DIRECTIONS as readonly string[]).includes(s)) return s as Direction;
  throw new Error(`--direction ${JSON.stringify(s)} is not valid: expected lakewood_loveland or loveland_lakewood`);
}

export function endpoints(direction: Direction): { source: ServerName; target: ServerName } {
  const [source, target] = direction.split('_') as [ServerName, ServerName];
  return { source, target };
}

export const checkpointDir = (config: Config, host: ServerName): string => hostDir(config.CHECKPOINT_DIR, host);

/** Where the server container runs now (state), defaulting to lakewood where build starts it. */
export function serverLocation(ctx: Pick<MigrationContext, 'state'>): ServerName {
  const v = ctx.state.get('serverHost');
  return v === 'loveland' ? 'loveland' : 'lakewood';
}

/** The CRIU log path podman prints after a failed restore ("log file: …/restore.log"). */
export function restoreLogPath(stderr: string): string | undefined {
  return stderr.match(/log file:\s*(\S+restore\.log)/)?.[1];
}

async function resolveTransferMethod(ctx: MigrationContext, src: Host, dst: Host, srcDir: string, dstDir: string, bindIp: string): Promise<TransferMethod> {
  const c = ctx.config;
  if (c.TRANSFER_METHOD !== 'auto') return c.TRANSFER_METHOD;
  const chosen = ctx.state.get('transferMethod');
  if (chosen === 'socat' || chosen === 'node') return chosen;
  // Measured outside the downtime, with a file the size of a typical checkpoint.
  const r = await calibrateTransfer({ source: src, target: dst, sourceDir: srcDir, targetDir: dstDir, bindIp, port: c.TRANSFER_PORT, bytes: 8 << 20 });
  ctx.log.info(`transfer calibration (8 MiB ${src.name}→${dst.name}): socat ${r.socatMs.toFixed(1)} ms, node ${r.nodeMs.toFixed(1)} ms → using ${r.method}`);
  ctx.state.set('transferMethod', r.method);
  ctx.state.set('transferCalibration', { socatMs: r.socatMs, nodeMs: r.nodeMs });
  return r.method;
}

/** Tell the collector a migration happened: its mark file (workload phase state) or SIGUSR1. */
async function markCollector(ctx: MigrationContext): Promise<void> {
  const w = (ctx.state.get('workload') ?? {}) as { markFile?: unknown; collectorPid?: unknown };
  if (typeof w.markFile === 'string' && w.markFile) {
    writeFileSync(w.markFile, `${Date.now()}\n`);
    return;
  }
  const pid = Number(w.collectorPid);
  if (Number.isInteger(pid) && pid > 1) {
    try { process.kill(pid, 'SIGUSR1'); return; } catch (e) { ctx.log.warn(`collector mark: SIGUSR1 to pid ${pid} failed: ${(e as Error).message}`); }
  }
  ctx.log.warn('collector mark: no collector mark file or PID in state.json (workload phase not run?); migration_event will not be set');
}

async function corruptCheckpoint(host: Host, tar: string): Promise<void> {
  await host.exec([
    'set -e',
    sh`d=$(mktemp -d) && tar -xf ${tar} -C "$d"`,
    // overwrite the TCP stream images (and the inventory if there are none) with random bytes
    `set -- "$d"/checkpoint/tcp-stream-*.img; [ -e "$1" ] || set -- "$d"/checkpoint/inventory.img`,
    `for f in "$@"; do head -c 48 /dev/urandom | dd of="$f" bs=1 seek=4 conv=notrunc 2>/dev/null; done`,
    sh`(cd "$d" && tar -cf ${tar} $(ls -A))`,
    'rm -rf "$d"',
  ].join('\n'), { quiet: true });
}

/** Restore + network + resume on `name` (recovery path); throws with the diagnosis when it fails. */
async function bringUp(ctx: MigrationContext, host: Host, name: ServerName, tar: string): Promise<void> {
  const c = ctx.config;
  await host.exec(sh`podman rm -f --ignore ${c.SERVER_CONTAINER} >/dev/null`, { quiet: true, allowFail: true });
  const r = await host.exec(restoreScript(c, serverNode(c, name), tar), { quiet: true, allowFail: true, timeoutMs: 180_000 });
  const o = parseScriptOutput(r.stdout);
  if (r.code !== 0) {
    const out = r.stdout.includes('RESTORE-FAILED') ? r.stdout.slice(r.stdout.indexOf('RESTORE-FAILED') + 14) : r.stderr;
    const logPath = restoreLogPath(out);
    const criuLog = logPath ? (await host.exec(sh`cat ${logPath}`, { quiet: true, allowFail: true })).stdout : '';
    throw new Error(`[${host.name}] restore from ${tar} failed: ${diagnoseRestore(criuLog, out).summary}`);
  }
  ctx.state.set('serverProc', { pid: Number(o.values.pid ?? 0), id: o.values.id ?? '' });
}

export interface MigrateOptions { direction: Direction; index: number }

/**
 * Run one migration; writes migration_timing_<index>.txt/.json into ctx.dir and returns the timing
 * (undefined in a dry run, which measures nothing and writes no file).
 */
export async function migrate(ctx: MigrationContext, opts: MigrateOptions): Promise<MigrationTiming | undefined> {
  const c = ctx.config;
  const { source, target } = endpoints(opts.direction);
  const i = opts.index;
  const tag = `migration ${i}`;
  const say = (m: string) => ctx.log.step('migrate', `${tag} ${source}→${target}: ${m}`);
  const src = ctx.host(source);
  const dst = ctx.host(target);
  const srcNode = serverNode(c, source);
  const dstNode = serverNode(c, target);
  const srcDir = checkpointDir(c, source);
  const dstDir = checkpointDir(c, target);
  const srcTar = `${srcDir}/checkpoint.tar`;
  const dstTar = `${dstDir}/checkpoint.tar`;
  const name = c.SERVER_CONTAINER;
  const ctl = controllerFor(ctx);

  if (ctx.dryRun) {
    say('dry run: the commands below are the plan');
  } else {
    const here = serverLocation(ctx);
    if (here !== source) throw new Error(`${tag}: direction ${opts.direction} needs the server on ${source}, but state.json says it is on ${here}`);
  }

  // A dry run cannot measure: it plans with socat where a real run would calibrate first.
  const method = ctx.dryRun ? (c.TRANSFER_METHOD === 'auto' ? 'socat' : c.TRANSFER_METHOD)
    : await resolveTransferMethod(ctx, src, dst, srcDir, dstDir, srcNode.directIp);
  if (ctx.dryRun && c.TRANSFER_METHOD === 'auto' && ctx.state.get('transferMethod') === undefined) {
    say('TRANSFER_METHOD=auto: a real run first sends 8 MiB with socat and with node over the direct link and keeps the faster; planned with socat');
  }

  // ---- checkpoint: target preparation in parallel with quiesce + drain + dump ----------------
  const m: Partial<MigrationMarks> = { start: nowNs() };
  say(`start (transfer via ${method})`);
  const prepareTarget = c.CR_SKIP_IMAGE_CHECK ? Promise.resolve() : (async () => {
    const img = await dst.exec(sh`podman image exists ${workloadFor(c).image(c)}`, { quiet: true, allowFail: true });
    if (img.code !== 0 && !ctx.dryRun) throw new Error(`[${target}] image ${workloadFor(c).image(c)} is missing on the target (run the images phase, or CR_SKIP_IMAGE_CHECK=true)`);
  })();
  prepareTarget.catch(() => {}); // awaited below; avoid an unhandled rejection meanwhile

  let quiesced = false;
  let checkpointed = false;
  let result: MigrationTiming | undefined;
  const known = knownServer(ctx);
  try {
    const ck = await src.exec(checkpointScript({
      name, dir: srcDir, tar: srcTar, drainTimeoutMs: c.DRAIN_TIMEOUT, known, quiesceSignal: workloadFor(c).quiesceSignal ?? null,
      serve: { method, bindIp: srcNode.directIp, port: c.TRANSFER_PORT, timeoutS: 120 },
    }), { quiet: true, allowFail: true, timeoutMs: c.DRAIN_TIMEOUT + 180_000 });
    const cko = parseScriptOutput(ck.stdout);
    quiesced = 'quiesced' in cko.values;
    checkpointed = 'checkpointed' in cko.values;
    if (ck.code !== 0 && !ctx.dryRun) {
      throw new Error(`[${source}] checkpoint script failed (exit ${ck.code}) after ${cko.lines.filter((l) => !l.startsWith('mark')).join(', ') || 'no step'}: ${tail(ck.stderr, 8)}`);
    }
    const now = nowNs();
    const remoteMs = (a: string, b: string) => { try { return markMs(cko, a, b); } catch { return 0; } };
    m.checkpointDone = now - BigInt(Math.round(remoteMs('checkpointed', 'serving') * 1e6));
    m.quiesced = m.start! + BigInt(Math.round(remoteMs('start', 'quiesced') * 1e6));
    m.drained = m.start! + BigInt(Math.round(remoteMs('start', 'drained') * 1e6));
    if (m.drained > m.checkpointDone) m.drained = m.checkpointDone;
    if (m.quiesced > m.drained) m.quiesced = m.drained;
    const drainOut = cko.values.drain ?? '';
    if (drainOut.includes('timeout')) {
      ctx.log.warn(`${tag}: send queues not empty after DRAIN_TIMEOUT ${c.DRAIN_TIMEOUT} ms (${drainOut}); checkpointing anyway`);
    }
    const size = Number(cko.values.size ?? 0);
    say(`checkpoint done in ${(Number(m.checkpointDone - m.start!) / 1e6).toFixed(0)} ms (drain: ${drainOut || 'n/a'}, ${size} bytes)`);
    await prepareTarget;

    // ---- transfer ∥ removing the source container ---------------------------------------------
    // The checkpoint stopped the container (its macvlan is gone); removing it frees the name,
    // which the restore needs where both servers share podman storage (local testbed).
    m.transferStart = nowNs();
    const pullP = dst.exec(pullScript(method, srcNode.directIp, c.TRANSFER_PORT, dstTar, dstDir), { quiet: true, timeoutMs: 120_000 })
      .then((r) => { m.transferEnd = nowNs(); return r; });
    const rmP = (async () => {
      m.sourceStopStart = nowNs();
      await src.exec(sh`podman rm -f ${name} >/dev/null`, { quiet: true });
      m.sourceStopDone = nowNs();
    })();
    const [pulled, rmRes] = await Promise.allSettled([pullP, rmP]);
    if (pulled.status === 'rejected') throw new Error(`checkpoint transfer ${source} ${srcNode.directIp}:${c.TRANSFER_PORT} → ${target} (${method}) failed: ${(pulled.reason as Error).message}`);
    if (rmRes.status === 'rejected') throw rmRes.reason;
    const got = Number(parseScriptOutput(pulled.value.stdout).values.size ?? -1);
    if (!c.CR_SKIP_VERIFY && !ctx.dryRun && got !== size) {
      throw new Error(`checkpoint transfer incomplete: ${source}:${srcTar} has ${size} bytes, ${target}:${dstTar} has ${got} bytes (CR_SKIP_VERIFY=true skips this check)`);
    }
    m.transferDone = nowNs();
    if (process.env[CORRUPT_HOOK] === '1') {
      ctx.log.warn(`${CORRUPT_HOOK}=1: damaging the checkpoint on ${target} (test hook) — the restore will fail`);
      await corruptCheckpoint(dst, dstTar);
    }

    // ---- restore on the target, network fix-up, resume ---------------------------------------
    m.restoreStart = nowNs();
    const rs = await dst.exec(restoreScript(c, dstNode, dstTar), { quiet: true, allowFail: true, timeoutMs: 180_000, dryRunStdout: 'id <restored container id>\npid <restored server pid>' });
    const rso = parseScriptOutput(rs.stdout);
    if (rs.code !== 0 && !ctx.dryRun) {
      if (!rs.stdout.includes('RESTORE-FAILED')) {
        throw new Error(`[${target}] after the restore, network fix-up/resume failed (exit ${rs.code}): ${tail(rs.stderr || rs.stdout, 8)}`);
      }
      const podmanOut = rs.stdout.slice(rs.stdout.indexOf('RESTORE-FAILED') + 'RESTORE-FAILED'.length).trim();
      const logPath = restoreLogPath(podmanOut);
      const criuLog = logPath ? (await dst.exec(sh`cat ${logPath}`, { quiet: true, allowFail: true })).stdout : '';
      const d = diagnoseRestore(criuLog, podmanOut);
      const file = join(ctx.dir, `migration_${i}_restore_diagnosis.txt`);
      const text = formatDiagnosis(d, { index: i, host: target, logPath, podmanStderr: podmanOut });
      mkdirSync(ctx.dir, { recursive: true });
      writeFileSync(file, text);
      if (criuLog) writeFileSync(join(ctx.dir, `migration_${i}_restore.log`), criuLog);
      ctx.log.error(`${tag}: restore on ${target} failed — ${d.summary}`);
      for (const l of text.trim().split('\n')) ctx.log.error(`  ${l}`);
      const recovered = await recoverOnSource(ctx, { source, target, srcTar, reason: 'restore failed' });
      throw new Error(`${tag} ${source}→${target}: restore on ${target} failed: ${d.summary} (cause ${d.cause}; ${d.hint}). `
        + `Diagnosis: ${file}. ${recovered}`);
    }
    m.restoreDone = nowNs();
    const pid = Number(rso.values.pid ?? 0);
    ctx.state.set('serverHost', target);
    ctx.state.set('serverProc', { pid, id: rso.values.id ?? '' });
    for (const l of rso.lines.filter((x) => x.startsWith('eth0 '))) say(l);

    // ---- switch update: client-visible downtime ends here ------------------------------------
    const sw = await ctl.call('POST', '/updateForward', { ipv4: c.H2_IP, sw_port: dstNode.swPort, dst_mac: c.H2_MAC });
    m.switchDone = nowNs();
    say(`switch updated to port ${dstNode.swPort} (${sw.ms.toFixed(1)} ms); time to ready ${(Number(m.switchDone - m.start!) / 1e6).toFixed(0)} ms`);

    // ---- post-switch ---------------------------------------------------------------------------
    const lw = ctx.host('lakewood');
    // best effort (an empty cache flushes fine), but a failure is reported
    const warnFlush = (where: string) => (r: { stdout: string; stderr: string; code: number }) => {
      const failed = r.code !== 0 ? `exit ${r.code}: ${tail(r.stderr, 3)}` : r.stdout.split('\n').find((l) => l.startsWith(FLUSH_FAILED))?.slice(FLUSH_FAILED.length);
      if (failed) ctx.log.warn(`${tag}: ip tcp_metrics flush on ${where} failed: ${failed.trim()}`);
    };
    await Promise.all([
      dst.exec(inNetns(pid, FLUSH_TCP_METRICS), { quiet: true, allowFail: true }).then(warnFlush(`the container on ${target}`)),
      lw.exec([FLUSH_TCP_METRICS, sh`ip neigh replace ${c.H2_IP} lladdr ${c.H2_MAC.toLowerCase()} dev ${c.MACSHIM_IF} nud permanent`].join('\n'), { quiet: true })
        .then(warnFlush('lakewood')),
      ctx.dryRun ? Promise.resolve() : markCollector(ctx),
    ]);
    m.end = nowNs();
    // a dry run measured nothing: no timing, no file
    if (!ctx.dryRun) {
      const timing = computeTiming(m as MigrationMarks, {
        sourceNode: source, targetNode: target, serverIp: c.H2_IP, targetSwPort: dstNode.swPort,
        transferMethod: method, checkpointSizeBytes: size,
      });
      timing.index = i;
      timing.switch_http_ms = Math.round(sw.ms * 1000) / 1000;
      timing.rto_min_ms = c.RTO_MIN_MS;
      timing.podman_checkpoint_ms = round3(markMs(cko, 'drained', 'checkpointed'));
      if (rso.marks.restored) {
        timing.podman_restore_ms = round3(markMs(rso, 'restore_start', 'restored'));
        timing.network_fixup_ms = round3(markMs(rso, 'restored', 'network'));
      }
      writeTiming(ctx.dir, i, timing);
      say(`done: checkpoint ${timing.checkpoint_ms} ms, transfer ${timing.transfer_ms} ms, restore ${timing.restore_ms} ms, `
        + `switch ${timing.switch_ms} ms, time_to_ready ${timing.time_to_ready_ms} ms, ${size} bytes`);
      result = timing;
    }
    // the checkpoint stays on the source until the next migration overwrites it; drop the target copy
    await dst.exec(sh`rm -f ${dstTar}`, { quiet: true, allowFail: true });
    return result;
  } catch (e) {
    if ((e as Error).message?.includes('Diagnosis:')) throw e;
    // Anything else failed mid-way: bring the service back on the source if we took it down.
    let note = '';
    if (!ctx.dryRun) {
      try {
        const sig = workloadFor(c).quiesceSignal;
        if (!checkpointed && quiesced && sig) {
          await src.exec(sh`podman kill --signal ${sig} ${name}`, { quiet: true, allowFail: true });
          note = `the server still runs on ${source} (resumed).`;
        } else if (checkpointed) {
          note = await recoverOnSource(ctx, { source, target, srcTar, reason: (e as Error).message });
        }
      } catch (re) {
        note = `recovery on ${source} also failed: ${(re as Error).message}`;
      }
    }
    const err = e as Error;
    err.message = `${tag} ${source}→${target} failed: ${err.message}${note ? ` — ${note}` : ''}`;
    throw err;
  }
}

const round3 = (x: number) => Math.round(x * 1000) / 1000;

// After the switch both TCP ends (container, shim on lakewood) drop the per-destination metrics
// (RTT, ssthresh) cached from before the migration; a failed flush prints a line, not an exit.
const FLUSH_FAILED = 'FLUSH-FAILED';
const FLUSH_TCP_METRICS = `if ! out=$(ip tcp_metrics flush all 2>&1); then echo "${FLUSH_FAILED} $out"; fi`;

/** The server's PID and container id as last recorded (build or the previous restore). */
function knownServer(ctx: MigrationContext): { pid: number; id: string } | undefined {
  const v = ctx.state.get('serverProc') as { pid?: number; id?: string } | undefined;
  return v && Number.isInteger(v.pid) && v.pid! > 1 && typeof v.id === 'string' && v.id.length >= 12 ? { pid: v.pid!, id: v.id } : undefined;
}

/** Put the server back on the source from the kept checkpoint, and point the switch there. */
async function recoverOnSource(ctx: MigrationContext, o: { source: ServerName; target: ServerName; srcTar: string; reason: string }): Promise<string> {
  const c = ctx.config;
  const src = ctx.host(o.source);
  const dst = ctx.host(o.target);
  ctx.log.warn(`recovering: restoring the server on ${o.source} from ${o.srcTar} (${o.reason})`);
  // a half-created container on the target would hold the name (and on hardware its own storage)
  await dst.exec(sh`podman rm -f --ignore ${c.SERVER_CONTAINER}`, { quiet: true, allowFail: true });
  try {
    await bringUp(ctx, src, o.source, o.srcTar);
    ctx.state.set('serverHost', o.source);
    await controllerFor(ctx).call('POST', '/updateForward', { ipv4: c.H2_IP, sw_port: serverNode(c, o.source).swPort, dst_mac: c.H2_MAC });
    await ctx.host('lakewood').exec(sh`ip neigh replace ${c.H2_IP} lladdr ${c.H2_MAC} dev ${c.MACSHIM_IF} nud permanent`, { quiet: true, allowFail: true });
    ctx.log.warn(`recovered: the server runs on ${o.source} again and the switch forwards to port ${serverNode(c, o.source).swPort}`);
    await waitForHealth(ctx.host('lakewood'), workloadFor(c).health(c), { timeoutMs: 10_000, intervalMs: 200 });
    ctx.log.warn(`recovered: the service answers its health check through the switch again`);
    return `The service was restored on ${o.source} from the same checkpoint and the switch points there again.`;
  } catch (e) {
    ctx.state.set('serverHost', 'none');
    return `Restoring on ${o.source} ALSO failed: ${(e as Error).message}`;
  }
}

export function writeTiming(dir: string, index: number, timing: MigrationTiming): void {
  if (!existsSync(dir)) mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `migration_timing_${index}.txt`), formatTimingTxt(timing));
  writeFileSync(join(dir, `migration_timing_${index}.json`), JSON.stringify(timing, null, 2) + '\n');
}
