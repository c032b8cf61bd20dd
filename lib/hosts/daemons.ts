// One lifecycle for the daemons this project runs on testbed hosts (switch model, hardware
// switchd, controller): start in its own process group with a PID file beside it on the host
// ("PID STARTTIME FINGERPRINT"), so a later run or experiments/clean.ts can tell whether exactly that
// process still runs, and with which command and environment, and stop exactly its group — never
// by name; a readiness gate that reports a daemon
// that exits while starting at once, with its log tail, instead of after the whole timeout.
import { createHash } from 'node:crypto';
import type { Cleanup } from '../run/cleanup.ts';
import type { Logger } from '../run/log.ts';
import type { Host } from './types.ts';
import { sh } from './quote.ts';
import { backgroundScript, stopGroupScript } from './exec.ts';
import { HealthTimeoutError, waitUntil } from '../run/health.ts';

const pidFile = (dir: string, name: string): string => `${dir}/${name}.pid`;
export const logFile = (dir: string, name: string): string => `${dir}/${name}.log`;

interface Readiness {
  /** What is awaited, for messages ("TCP 127.0.0.1:50052 open"). */
  what: string;
  /** One probe; `state` is kept for the timeout message. */
  probe: () => Promise<{ ok: boolean; state: string }>;
  timeoutMs: number;
  intervalMs: number;
}

interface DaemonSpec {
  /** Base name of <dir>/<name>.pid and <dir>/<name>.log. */
  name: string;
  /** Folder on the host for the PID file and the log. */
  dir: string;
  /** Shell command; `exec …` so the PID recorded is the daemon's own. */
  command: string;
  env?: Record<string, string>;
  cwd?: string;
  /** false: the run's cleanup stops it; true: it keeps running after the run (hardware switchd). */
  outlivesRun: boolean;
  ready: Readiness;
}

interface DaemonDeps {
  log: Logger;
  cleanup: Cleanup;
  dryRun: boolean;
}

type DaemonFailure = 'exited' | 'timeout';

/** A daemon did not come up: it exited while starting, or readiness timed out. */
export class DaemonError extends Error {
  constructor(
    readonly host: string,
    readonly daemon: string,
    readonly failure: DaemonFailure,
    readonly detail: string,
    readonly logTail: string,
  ) {
    super(
      `[${host}] ${daemon} ${failure === 'exited' ? 'exited while starting' : 'did not become ready'}: ${detail}` +
        `\n${daemon} log (last lines):\n${logTail || '(empty)'}`,
    );
    this.name = 'DaemonError';
  }
}

/**
 * What a daemon was started with (command, environment, working folder), as a short hash: a
 * later run reuses it only when it would start the same one (a sweep point that changes the
 * switch model's program or ports must not inherit the previous point's model).
 */
export function daemonFingerprint(spec: { command: string; env?: Record<string, string>; cwd?: string }): string {
  const env = Object.entries(spec.env ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return createHash('sha256')
    .update(JSON.stringify([spec.command, env, spec.cwd ?? '']))
    .digest('hex')
    .slice(0, 16);
}

/**
 * The recorded daemon when that process still runs with the recorded start time; `fingerprint`
 * is '' for a PID file written before fingerprints were recorded.
 */
export async function recordedDaemon(
  host: Host,
  dir: string,
  name: string,
): Promise<{ pid: number; fingerprint: string } | undefined> {
  const f = pidFile(dir, name);
  const r = await host.exec(
    [
      sh`[ -f ${f} ] || exit 0`,
      sh`read p st fp < ${f} || exit 0`,
      `cur=$(awk '{print $22}' /proc/$p/stat 2>/dev/null || true)`,
      `if [ -n "$cur" ] && [ "$cur" = "$st" ]; then echo "$p \${fp:-}"; fi`,
    ].join('\n'),
    { quiet: true, allowFail: true },
  );
  const [pidText, fingerprint = ''] = r.stdout.trim().split(/\s+/);
  const pid = Number(pidText);
  return Number.isInteger(pid) && pid > 1 ? { pid, fingerprint } : undefined;
}

/** PID from the PID file when that process still runs with the recorded start time. */
export async function recordedPid(host: Host, dir: string, name: string): Promise<number | undefined> {
  return (await recordedDaemon(host, dir, name))?.pid;
}

/**
 * Stop the process group recorded in the PID file (TERM, then KILL after 5 s) and remove the
 * file. Returns the PID stopped, or undefined when nothing recorded was running.
 */
export async function stopDaemon(host: Host, dir: string, name: string): Promise<number | undefined> {
  const pid = await recordedPid(host, dir, name);
  // started by startDaemon with setsid: the PID leads its own group
  if (pid) await host.exec(sh`sh -c ${stopGroupScript(pid)}`, { quiet: true, allowFail: true, timeoutMs: 15_000 });
  await host.exec(sh`rm -f ${pidFile(dir, name)}`, { quiet: true, allowFail: true });
  return pid;
}

async function logTail(host: Host, dir: string, name: string, lines = 20): Promise<string> {
  const r = await host.exec(sh`tail -n ${lines} ${logFile(dir, name)}`, { quiet: true, allowFail: true });
  return r.stdout.trimEnd();
}

/**
 * Whether `pid` still runs as the process started at `startTime`: a zombie counts as gone (an
 * orphan's zombie may wait long for PID 1 to reap it, and holds no port or device).
 */
async function alive(host: Host, pid: number, startTime: string): Promise<boolean> {
  // state and start time follow the parenthesised command name (which may hold spaces)
  const r = await host.exec(`awk '{ sub(/^.*\\) /, ""); print $1, $20 }' /proc/${pid}/stat 2>/dev/null`, {
    quiet: true,
    allowFail: true,
  });
  const [state, st] = r.stdout.trim().split(/\s+/);
  return Boolean(state) && state !== 'Z' && (!startTime || st === startTime);
}

/** Poll readiness until ok; between probes check that the daemon still runs. */
async function waitReady(host: Host, spec: DaemonSpec, pid: number, startTime: string, deps: DaemonDeps): Promise<void> {
  const { ready } = spec;
  const t0 = Date.now();
  let last = '';
  const giveUp = {
    when: `${spec.name} exits`,
    check: async () => {
      if (await alive(host, pid, startTime)) return;
      throw new DaemonError(
        host.name,
        spec.name,
        'exited',
        `pid ${pid} is gone after ${Date.now() - t0} ms (last state of ${ready.what}: ${last})`,
        await logTail(host, spec.dir, spec.name),
      );
    },
  };
  const probe = async () => {
    const r = await ready.probe().catch((e: Error) => ({ ok: false, state: e.message.split('\n')[0] }));
    if (!r.ok) last = r.state;
    return r;
  };
  try {
    await waitUntil(host, ready.what, probe, {
      timeoutMs: ready.timeoutMs,
      intervalMs: ready.intervalMs,
      log: deps.log,
      dryRun: deps.dryRun,
      giveUp,
    });
  } catch (e) {
    if (!(e instanceof HealthTimeoutError)) throw e;
    throw new DaemonError(
      host.name,
      spec.name,
      'timeout',
      `timed out after ${ready.timeoutMs} ms waiting for ${ready.what}; last state: ${last || '(nothing observed)'}`,
      await logTail(host, spec.dir, spec.name),
    );
  }
}

/**
 * Start `spec` in the background (setsid, log in <dir>/<name>.log), record its PID file, register
 * its stop as an undo unless it outlives the run, and wait until it is ready. Returns its PID.
 */
export async function startDaemon(host: Host, spec: DaemonSpec, deps: DaemonDeps): Promise<number> {
  for (const k of Object.keys(spec.env ?? {}))
    if (!/^[A-Za-z_]\w*$/.test(k)) throw new Error(`${spec.name}: bad environment variable name ${JSON.stringify(k)}`);
  // backgroundScript makes the log's folder, which is spec.dir
  const r = await host.exec(
    backgroundScript(spec.command, { name: spec.name, logFile: logFile(spec.dir, spec.name), cwd: spec.cwd, env: spec.env }),
    { quiet: true, timeoutMs: 30_000, dryRunStdout: `<${spec.name} pid> <start-time>` },
  );
  const [pidText, startTime = ''] = r.stdout.trim().split(/\s+/);
  const pid = Number(pidText);
  if (!Number.isInteger(pid) || pid <= 1)
    throw new Error(`[${host.name}] starting ${spec.name} printed no PID (got ${JSON.stringify(r.stdout)})`);
  await host.exec(sh`echo ${`${pid} ${startTime} ${daemonFingerprint(spec)}`} > ${pidFile(spec.dir, spec.name)}`, {
    quiet: true,
  });
  if (!spec.outlivesRun) {
    deps.cleanup.add(`stop ${spec.name} on ${host.name} (pid ${pid})`, async () => {
      // the start time recorded now: a PID reused since is left alone
      await host.exec(sh`sh -c ${stopGroupScript(pid, startTime)}; rm -f ${pidFile(spec.dir, spec.name)}`, {
        quiet: true,
        allowFail: true,
        timeoutMs: 15_000,
      });
    });
  }
  deps.log.host(host.name, `started ${spec.name} (pid ${pid}, log ${logFile(spec.dir, spec.name)})`);
  await waitReady(host, spec, pid, startTime, deps);
  return pid;
}
