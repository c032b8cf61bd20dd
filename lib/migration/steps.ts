// The published migration procedure as named steps, and the one place that runs them in order:
//
//   prepare target ∥ [quiesce → drain → checkpoint → (transfer offer)]     one script on the source
//   transfer ∥ remove source
//   [restore → network fix-up → resume]                                    one script on the target
//   switch update → post-switch
//
// An engine is a record of step implementations (podman.ts is the published one); another engine
// (runc, lazy pages) replaces only the steps it does differently. Steps that run on the same host
// back to back are joined into one script, so each host leg costs one SSH round trip; each
// script step ends with its own timing mark (`mark NAME NS`, the host's clock).
import type { Config } from '../config/keys.ts';
import { tail } from '../run/text.ts';
import type { ExecResult, Host } from '../hosts/types.ts';
import type { ServerName, ServerNode } from '../server/net.ts';
import { StepFailure } from './errors.ts';
import type { MigrationContext } from './migrate.ts';
import { mark, parseScriptOutput, type ScriptOutput } from './scripts.ts';
import { nowNs, type MigrationMarks } from './timing.ts';
import type { TransferMethod } from './transfer.ts';

export const STEPS = [
  'prepareTarget',
  'quiesce',
  'drain',
  'checkpoint',
  'transfer',
  'removeSource',
  'restore',
  'networkFixup',
  'resume',
  'switchUpdate',
  'postSwitch',
] as const;
export type StepName = (typeof STEPS)[number];

/** A step that is a piece of a host script; the leg appends its `mark` after its lines. */
export interface ScriptStep {
  mark: string;
  script(r: MigrationRun): string;
  /** Reads what the step printed once its leg returned (also in a dry run, with empty output). */
  read?(r: MigrationRun, out: ScriptOutput): void;
  /** Turns the leg's failure at this step into the error to raise (default: a StepFailure with stderr). */
  failed?(r: MigrationRun, res: ExecResult, out: ScriptOutput): Promise<Error>;
}

/** A step run from the orchestrator (its own exec calls, HTTP, files). */
export interface CallStep {
  run(r: MigrationRun): Promise<void>;
}

export interface Engine {
  name: string;
  /** Restores the container record podman already holds (runc, lazy): recovery stops it, never removes it. */
  sameRecord?: boolean;
  prepareTarget: CallStep;
  quiesce: ScriptStep;
  drain: ScriptStep;
  checkpoint: ScriptStep;
  /** offer: the tail of the source script (e.g. start a listener); pull: moves the data to the target. */
  transfer: { offer: ScriptStep; pull: CallStep };
  removeSource: CallStep;
  restore: ScriptStep;
  networkFixup: ScriptStep;
  resume: ScriptStep;
  switchUpdate: CallStep;
  postSwitch: CallStep;
}

/** Everything one migration knows, shared by its steps. */
export interface MigrationRun {
  ctx: MigrationContext;
  c: Config;
  index: number;
  tag: string;
  source: ServerName;
  target: ServerName;
  src: Host;
  dst: Host;
  srcNode: ServerNode;
  dstNode: ServerNode;
  srcDir: string;
  dstDir: string;
  srcTar: string;
  dstTar: string;
  method: TransferMethod;
  /** The checkpoint transfer's TCP port on the source's direct-link address (TRANSFER_PORT_PICK). */
  port: number;
  /** The server's PID and container id as last recorded (build or the previous restore). */
  known?: { pid: number; id: string };
  /** Orchestrator-clock instants (timing.ts). */
  m: Partial<MigrationMarks>;
  /** When the current host leg returned (orchestrator clock). */
  legEndNs: bigint;
  /** Figures and names the steps report; the finer ones go into the timing JSON as they are. */
  v: {
    size: number;
    sourceId?: string;
    pid: number;
    id: string;
    switchMs: number;
    extra: Record<string, string | number>;
    /** PID of the source's detached transfer listener (its process group), to stop it after a failure. */
    listener?: number;
    /** Helper processes an engine started (lazy: page server, lazy-pages daemon), ended by PID (lazy.ts). */
    daemons?: { host: Host; pid: number; what: string; unregister: () => void }[];
  };
  /** The run's abort signal, captured before the steps run shielded from it (migrate.ts). */
  signal?: AbortSignal;
  /** Steps that completed; recovery decides from these. */
  done: Set<StepName>;
  /** The step running now (the one a failure is attributed to). */
  step: StepName;
  say(m: string): void;
}

/**
 * Runs script steps back to back on one host in one exec. The leg's first mark is `startMark`;
 * each step's lines end with its mark, so the first missing mark names the step that failed.
 */
export async function hostLeg(
  r: MigrationRun,
  host: Host,
  startMark: string,
  steps: [StepName, ScriptStep][],
  opts: { timeoutMs: number; dryRunStdout?: string; errexit: boolean },
): Promise<ScriptOutput> {
  const script = [
    ...(opts.errexit ? ['set -e'] : []),
    mark(startMark),
    ...steps.map(([, s]) => `${s.script(r)}\n${mark(s.mark)}`),
  ].join('\n');
  r.step = steps[0][0];
  const res = await host
    .exec(script, { quiet: true, allowFail: true, timeoutMs: opts.timeoutMs, dryRunStdout: opts.dryRunStdout })
    .catch((e: Error) => {
      throw new StepFailure(r.step, `[${host.name}] ${e.message}`, { host: host.name, interrupted: true });
    });
  r.legEndNs = nowNs();
  const out = parseScriptOutput(res.stdout);
  const failedAt = r.ctx.dryRun ? undefined : steps.find(([, s]) => out.marks[s.mark] === undefined);
  for (const [name, s] of steps) {
    if (failedAt?.[0] === name) break;
    r.step = name;
    s.read?.(r, out);
    r.done.add(name);
  }
  if (failedAt) {
    const [name, s] = failedAt;
    r.step = name;
    if (s.failed) throw await s.failed(r, res, out);
    throw new StepFailure(name, `[${host.name}] step ${name} failed (exit ${res.code}): ${tail(res.stderr || res.stdout, 8)}`, {
      host: host.name,
      code: res.code,
      stderr: res.stderr,
    });
  }
  return out;
}

/** Runs a call step, recording it as the current step and, when it returns, as done. */
async function callStep(r: MigrationRun, name: StepName, s: CallStep): Promise<void> {
  r.step = name;
  await s.run(r);
  r.done.add(name);
}

/** Two call steps in parallel; a failure of either is raised after both settled (first one wins). */
async function parallel(r: MigrationRun, a: [StepName, CallStep], b: [StepName, CallStep]): Promise<void> {
  const run = async ([name, s]: [StepName, CallStep]) => {
    try {
      await s.run(r);
      r.done.add(name);
    } catch (e) {
      throw e instanceof StepFailure ? e : new StepFailure(name, (e as Error).message);
    }
  };
  const res = await Promise.allSettled([run(a), run(b)]);
  const failed = res.find((x) => x.status === 'rejected') as PromiseRejectedResult | undefined;
  if (failed) throw failed.reason;
}

/**
 * Ctrl-C between steps: the steps themselves run to their end (a half-run podman step is what
 * makes a recovery guess), so the run stops at the next point where the state is known.
 */
function stopIfAborted(r: MigrationRun, before: StepName): void {
  if (!r.signal?.aborted) return;
  r.step = before;
  const why = (r.signal.reason as Error)?.message ?? 'the run was aborted';
  throw new StepFailure(before, `${why}: stopped before step ${before}`, { aborted: true });
}

/** The procedure. Timing marks that only the orchestrator can take are set here. */
export async function runProcedure(e: Engine, r: MigrationRun): Promise<void> {
  r.m.start = nowNs();
  // target preparation overlaps the source's work; awaited before anything touches the target
  const prep = e.prepareTarget.run(r).then(() => {
    r.done.add('prepareTarget');
  });
  prep.catch(() => {}); // awaited below; avoid an unhandled rejection meanwhile
  await hostLeg(
    r,
    r.src,
    'start',
    [
      ['quiesce', e.quiesce],
      ['drain', e.drain],
      ['checkpoint', e.checkpoint],
      ['transfer', e.transfer.offer],
    ],
    { timeoutMs: r.c.DRAIN_TIMEOUT + 180_000, errexit: true },
  );
  r.done.delete('transfer'); // only offered; done once the target has the data
  r.step = 'prepareTarget';
  await prep.catch((err) => {
    throw err instanceof StepFailure ? err : new StepFailure('prepareTarget', (err as Error).message);
  });
  stopIfAborted(r, 'transfer');

  r.m.transferStart = nowNs();
  await parallel(r, ['transfer', e.transfer.pull], ['removeSource', e.removeSource]);
  r.m.transferDone = nowNs();
  stopIfAborted(r, 'restore');

  r.m.restoreStart = nowNs();
  await restoreLeg(e, r, r.dst);
  r.m.restoreDone = nowNs();
  // from here the server runs on the target, whatever happens next (a failure recovers from here)
  r.ctx.state.set('serverHost', r.target);
  r.ctx.state.set('serverProc', { pid: r.v.pid, id: r.v.id });
  // interrupted now: finishing on the target (one switch call) is the shortest way back to service
  if (r.signal?.aborted)
    r.say('interrupted after the restore: finishing the migration on the target (switch update) before stopping');

  await callStep(r, 'switchUpdate', e.switchUpdate);
  r.m.switchDone = nowNs();
  await callStep(r, 'postSwitch', e.postSwitch);
  r.m.end = nowNs();
}

/**
 * Restore, network fix-up and resume on `host` (the target; the source when recovering). No
 * errexit before the restore: its step reports podman's failure itself.
 */
export function restoreLeg(e: Engine, r: MigrationRun, host: Host): Promise<ScriptOutput> {
  return hostLeg(
    r,
    host,
    'restore_start',
    [
      ['restore', e.restore],
      ['networkFixup', e.networkFixup],
      ['resume', e.resume],
    ],
    { timeoutMs: 180_000, dryRunStdout: 'id <restored container id>\npid <restored server pid>', errexit: false },
  );
}
