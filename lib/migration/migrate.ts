// One live migration of the server container between two servers: the entry point.
// The steps of the published procedure and their order are in steps.ts, their podman commands in
// podman.ts. A failed step raises a MigrationError after the service was put back on the source
// (recovery.ts); a failed restore is first diagnosed from CRIU's log into the run folder.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../config/keys.ts';
import { hostDir } from '../config/load.ts';
import { sh } from '../hosts/quote.ts';
import type { Host, HostName } from '../hosts/types.ts';
import type { Plan } from '../hosts/dryrun.ts';
import { netTool, netToolPath } from '../nettool/index.ts';
import { serverNode, type ServerName } from '../server/net.ts';
import { criuSettingsSummary, CRIU_CONFIG_PATH } from './criu.ts';
import { directLinkSetup, nicOffloadMode } from '../server/infra.ts';
import { formatDiagnosis } from './diagnosis.ts';
import { LazyPagesFailure, MigrationError, RestoreFailure, StepFailure } from './errors.ts';
import { engineFor } from './engines.ts';
import { recover } from './recovery.ts';
import { homeServer, hopFor } from './schedule.ts';
import { runProcedure, type Engine, type MigrationRun } from './steps.ts';
import { computeTiming, formatTimingTxt, type MigrationMarks, type MigrationTiming } from './timing.ts';
import { calibrateTransfer, type TransferMethod } from './transfer.ts';
import { addressRecord, withMigrationMode } from './vip.ts';
import { checkLivePath, LivePathError } from './precheck.ts';
import { uninterruptible } from '../run/context.ts';
import { abortReason } from '../run/wait.ts';

export { MigrationError } from './errors.ts';

/** `<source>_<target>`, e.g. lakewood_loveland (server names hold no `_`). */
export type Direction = `${string}_${string}`;

/** The parts of the run context a migration uses (a RunContext satisfies it). */
export interface MigrationContext {
  config: Config;
  dir: string;
  log: { info(m: string): void; warn(m: string): void; error(m: string): void; step(p: string, m: string): void };
  cleanup: { add(label: string, fn: () => Promise<void> | void, opts?: { timeoutMs?: number }): () => void };
  state: { get(key: string): unknown; set(key: string, value: unknown): void };
  host(name: HostName): Host;
  dryRun: boolean;
  /** Dry run: where the controller calls are written instead of sent. */
  plan?: Plan;
  /** The run's abort signal (Ctrl-C): checked between steps, and it ends a running transfer. */
  signal?: AbortSignal;
}

/** Migration i (1-based) of MIGRATION_SCHEDULE (schedule.ts); alternate: first→second when odd, back when even. */
export function directionFor(c: Pick<Config, 'MIGRATION_SCHEDULE' | 'SERVERS'>, index: number): Direction {
  const { from, to } = hopFor(c, index);
  return `${from}_${to}`;
}

export function parseDirection(c: Pick<Config, 'SERVERS'>, s: string): Direction {
  const [from, to, ...rest] = s.split('_');
  if (!rest.length && from !== to && c.SERVERS.includes(from) && c.SERVERS.includes(to ?? '')) return s as Direction;
  throw new Error(
    `--direction ${JSON.stringify(s)} is not valid: expected SOURCE_TARGET, two different of SERVERS (${c.SERVERS.join(', ')}), e.g. ${c.SERVERS[0]}_${c.SERVERS[1]}`,
  );
}

export function endpoints(direction: Direction): { source: ServerName; target: ServerName } {
  const [source, target] = direction.split('_') as [ServerName, ServerName];
  return { source, target };
}

export const checkpointDir = (config: Config, host: ServerName): string => hostDir(config.CHECKPOINT_DIR, host);

/** Where the server container runs now (state), defaulting to where build starts it. */
export function serverLocation(ctx: Pick<MigrationContext, 'state' | 'config'>): ServerName {
  const v = ctx.state.get('serverHost');
  return typeof v === 'string' && ctx.config.SERVERS.includes(v) ? v : homeServer(ctx.config);
}

async function resolveTransferMethod(
  ctx: MigrationContext,
  r: Pick<MigrationRun, 'src' | 'dst' | 'srcDir' | 'dstDir' | 'srcNode'>,
): Promise<TransferMethod> {
  const c = ctx.config;
  if (c.TRANSFER_METHOD !== 'auto') return c.TRANSFER_METHOD;
  const chosen = ctx.state.get('transferMethod');
  if (chosen === 'socat' || chosen === 'node') return chosen;
  // Measured outside the downtime, with a file the size of a typical checkpoint.
  const t = await calibrateTransfer({
    source: r.src,
    target: r.dst,
    sourceDir: r.srcDir,
    targetDir: r.dstDir,
    bindIp: r.srcNode.directIp,
    port: c.TRANSFER_PORT,
    bytes: 8 << 20,
    tools: { source: netToolPath(c, r.src.name), target: netToolPath(c, r.dst.name) },
  });
  ctx.log.info(
    `transfer calibration (8 MiB ${r.src.name}→${r.dst.name}): socat ${t.socatMs.toFixed(1)} ms, node ${t.nodeMs.toFixed(1)} ms → using ${t.method}`,
  );
  ctx.state.set('transferMethod', t.method);
  return t.method;
}

/** TRANSFER_PORT_PICK: the fixed TRANSFER_PORT, or a port the source finds free on its direct-link address now. */
export function transferPortPick(c: Pick<Config, 'TRANSFER_PORT_PICK' | 'TESTBED'>): 'fixed' | 'free' {
  if (c.TRANSFER_PORT_PICK !== 'auto') return c.TRANSFER_PORT_PICK;
  return c.TESTBED === 'hw' ? 'free' : 'fixed';
}

async function transferPort(
  ctx: MigrationContext,
  r: { src: Host; srcNode: { directIp: string }; source: string },
): Promise<number> {
  const c = ctx.config;
  if (transferPortPick(c) === 'fixed') return c.TRANSFER_PORT;
  const out = await r.src.exec(netTool(netToolPath(c, r.source), 'free-port', r.srcNode.directIp), {
    quiet: true,
    timeoutMs: 10_000,
    dryRunStdout: String(c.TRANSFER_PORT),
  });
  const port = Number(out.stdout.trim());
  if (!Number.isInteger(port) || port < 1 || port > 65535)
    throw new Error(
      `[${r.source}] no free transfer port on ${r.srcNode.directIp}: p4cf-net free-port printed ${JSON.stringify(out.stdout.trim())}`,
    );
  return port;
}

/** The server's PID and container id as last recorded (build or the previous restore). */
function knownServer(ctx: MigrationContext): { pid: number; id: string } | undefined {
  const v = ctx.state.get('serverProc') as { pid?: number; id?: string } | undefined;
  return v && Number.isInteger(v.pid) && v.pid! > 1 && typeof v.id === 'string' && v.id.length >= 12
    ? { pid: v.pid!, id: v.id }
    : undefined;
}

/**
 * The run-state keys migrate() reads and writes: a phase that calls it declares them (phase state
 * is scoped to what a phase declares), e.g. `reads: [...MIGRATION_STATE.reads, 'migrationsDone']`.
 */
export const MIGRATION_STATE = {
  reads: ['serverHost', 'serverProc', 'workload', 'transferMethod'],
  writes: ['serverHost', 'serverProc', 'transferMethod'],
} as const;

export interface MigrateOptions {
  direction: Direction;
  index: number;
  engine?: Engine;
}

/**
 * Run one migration; writes migration_timing_<index>.txt/.json into ctx.dir and returns the timing
 * (undefined in a dry run, which measures nothing and writes no file). Throws a MigrationError.
 */
export async function migrate(ctx: MigrationContext, opts: MigrateOptions): Promise<MigrationTiming | undefined> {
  const c = ctx.config;
  const engine = withMigrationMode(c, opts.engine ?? engineFor(c));
  const { source, target } = endpoints(opts.direction);
  const i = opts.index;
  const tag = `migration ${i}`;
  const say = (m: string) => ctx.log.step('migrate', `${tag} ${source}→${target}: ${m}`);
  if (ctx.dryRun) {
    say('dry run: the commands below are the plan');
  } else {
    const here = serverLocation(ctx);
    if (here !== source)
      throw new Error(`${tag}: direction ${opts.direction} needs the server on ${source}, but state.json says it is on ${here}`);
  }
  const srcDir = checkpointDir(c, source);
  const dstDir = checkpointDir(c, target);
  const base = {
    ctx,
    c,
    index: i,
    tag,
    source,
    target,
    src: ctx.host(source),
    dst: ctx.host(target),
    srcNode: serverNode(c, source),
    dstNode: serverNode(c, target),
    srcDir,
    dstDir,
    srcTar: `${srcDir}/checkpoint.tar`,
    dstTar: `${dstDir}/checkpoint.tar`,
  };
  const signal = ctx.signal;
  if (signal?.aborted) throw abortReason(signal);
  // nothing is changed before this: a dead part refuses the migration with the service up
  try {
    await checkLivePath(ctx, base);
  } catch (e) {
    if (e instanceof LivePathError)
      e.message = `${tag} ${source}→${target} refused, nothing was changed (the server still runs on ${source}): ${e.message}`;
    throw e;
  }
  // A dry run cannot measure: it plans with socat where a real run would calibrate first.
  const method = ctx.dryRun
    ? c.TRANSFER_METHOD === 'auto'
      ? 'socat'
      : c.TRANSFER_METHOD
    : await resolveTransferMethod(ctx, base);
  if (ctx.dryRun && c.TRANSFER_METHOD === 'auto' && ctx.state.get('transferMethod') === undefined) {
    say(
      'TRANSFER_METHOD=auto: a real run first sends 8 MiB with socat and with node over the direct link and keeps the faster; planned with socat',
    );
  }
  const port = await transferPort(ctx, base);
  const r: MigrationRun = {
    ...base,
    method,
    port,
    known: knownServer(ctx),
    m: {},
    legEndNs: 0n,
    signal,
    v: { size: 0, pid: 0, id: '', switchMs: 0, extra: {} },
    done: new Set(),
    step: 'prepareTarget',
    say,
  };
  say(`start (transfer via ${method})`);
  // From the quiesce on, the steps run to their end whatever the run's signal says (a recovery
  // must know how far they got); runProcedure stops between them, and a failure recovers.
  await uninterruptible(async () => {
    try {
      await runProcedure(engine, r);
    } catch (e) {
      throw await failed(engine, r, e as Error);
    }
  });
  if (signal?.aborted)
    ctx.log.warn(
      `${tag}: interrupted after the restore — finished on ${target}: the server runs there and the switch points to it`,
    );
  let result: MigrationTiming | undefined;
  if (!ctx.dryRun) {
    // a dry run measured nothing: no timing, no file
    result = timingOf(r, engine);
    writeTiming(ctx.dir, i, result);
    for (const [k, v] of [
      ['dump', result.criu_config_dump],
      ['restore', result.criu_config_restore],
    ] as const) {
      if (v !== 'parsed')
        ctx.log.warn(
          `${tag}: CRIU's ${k} log does not show ${CRIU_CONFIG_PATH} was read (${v}): the migration's CRIU settings may not have applied`,
        );
    }
    say(
      `done: checkpoint ${result.checkpoint_ms} ms, transfer ${result.transfer_ms} ms, restore ${result.restore_ms} ms, ` +
        `switch ${result.switch_ms} ms, time_to_ready ${result.time_to_ready_ms} ms, ${r.v.size} bytes`,
    );
  }
  // the checkpoint stays on the source until the next migration overwrites it; drop the target copy
  await uninterruptible(() => r.dst.exec(sh`rm -f ${r.dstTar}`, { quiet: true, allowFail: true }));
  return result;
}

function timingOf(r: MigrationRun, engine: Engine): MigrationTiming {
  const t = computeTiming(r.m as MigrationMarks, {
    sourceNode: r.source,
    targetNode: r.target,
    serverIp: addressRecord(r).backend_ip_after,
    targetSwPort: r.dstNode.swPort,
    transferMethod: r.method,
    checkpointSizeBytes: r.v.size,
  });
  t.index = r.index;
  t.engine = engine.name;
  t.switch_http_ms = Math.round(r.v.switchMs * 1000) / 1000;
  t.rto_min_ms = r.c.RTO_MIN_MS;
  // how comparable with the published figures (issue 11 h): which of the original's settings applied
  t.nic_offloads = nicOffloadMode(r.c);
  t.direct_link_setup = directLinkSetup(r.c);
  t.transfer_port = r.port;
  t.transfer_port_pick = transferPortPick(r.c);
  t.criu_config = `${CRIU_CONFIG_PATH}: ${criuSettingsSummary()}`;
  Object.assign(t, addressRecord(r), r.v.extra);
  return t;
}

/** Diagnose (restore), recover, and turn any failure into a MigrationError. */
async function failed(engine: Engine, r: MigrationRun, e: Error): Promise<MigrationError> {
  const { ctx, index: i } = r;
  const step = e instanceof StepFailure ? e.step : r.step;
  let diagnosisFile: string | undefined = e instanceof LazyPagesFailure ? e.file : undefined;
  if (e instanceof RestoreFailure) {
    diagnosisFile = join(ctx.dir, `migration_${i}_restore_diagnosis.txt`);
    const text = formatDiagnosis(e.diagnosis, {
      index: i,
      host: r.target,
      logPath: e.evidence.criuLogPath,
      podmanStderr: e.evidence.podmanOutput,
    });
    mkdirSync(ctx.dir, { recursive: true });
    writeFileSync(diagnosisFile, text);
    if (e.evidence.criuLog) writeFileSync(join(ctx.dir, `migration_${i}_restore.log`), e.evidence.criuLog);
    ctx.log.error(`${r.tag}: restore on ${r.target} failed — ${e.diagnosis.summary}`);
    for (const l of text.trim().split('\n')) ctx.log.error(`  ${l}`);
  }
  const { recovered, recovery } = await recover(engine, r, e, e instanceof RestoreFailure ? 'restore failed' : e.message);
  return new MigrationError({ index: i, source: r.source, target: r.target, step, recovered, recovery, diagnosisFile, cause: e });
}

export function writeTiming(dir: string, index: number, timing: MigrationTiming): void {
  if (!existsSync(dir)) mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `migration_timing_${index}.txt`), formatTimingTxt(timing));
  writeFileSync(join(dir, `migration_timing_${index}.json`), JSON.stringify(timing, null, 2) + '\n');
}
