// Daemons this project starts on testbed hosts (switch model, controller, hardware switchd):
// a PID file beside them on the host ("PID STARTTIME"), so a later run or experiments/clean.ts
// can tell whether the process still runs and stop exactly that process group — never by name.
import type { Host } from './types.ts';
import { quote, sh } from './quote.ts';
import { stopGroupScript } from './exec.ts';

export const pidFile = (dir: string, name: string): string => `${dir}/${name}.pid`;

/** PID from the PID file when that process still runs with the recorded start time. */
export async function recordedPid(host: Host, dir: string, name: string): Promise<number | undefined> {
  const f = pidFile(dir, name);
  const r = await host.exec([
    sh`[ -f ${f} ] || exit 0`,
    sh`read p st < ${f} || exit 0`,
    `cur=$(awk '{print $22}' /proc/$p/stat 2>/dev/null || true)`,
    `if [ -n "$cur" ] && [ "$cur" = "$st" ]; then echo "$p"; fi`,
  ].join('\n'), { quiet: true, allowFail: true });
  const pid = Number(r.stdout.trim());
  return Number.isInteger(pid) && pid > 1 ? pid : undefined;
}

/** Write the PID file for a process that runs now. */
export async function writePidFile(host: Host, dir: string, name: string, pid: number): Promise<void> {
  await host.exec(sh`mkdir -p ${dir} && echo "${pid} $(awk '{print $22}' /proc/${pid}/stat)" > ${pidFile(dir, name)}`, { quiet: true });
}

/**
 * Stop the process group recorded in the PID file (TERM, then KILL after 5 s) and remove the
 * file. Returns the PID stopped, or undefined when nothing recorded was running.
 */
export async function stopRecorded(host: Host, dir: string, name: string): Promise<number | undefined> {
  const pid = await recordedPid(host, dir, name);
  // started with setsid (background or startDetached): the PID leads its own group
  if (pid) await host.exec(sh`sh -c ${stopGroupScript(pid)}`, { quiet: true, allowFail: true, timeoutMs: 15_000 });
  await host.exec(sh`rm -f ${pidFile(dir, name)}`, { quiet: true, allowFail: true });
  return pid;
}

/**
 * Start a daemon that outlives this run (hardware switchd): setsid + nohup, no cleanup undo.
 * Returns its PID and writes the PID file.
 */
export async function startDetached(host: Host, dir: string, name: string, cmd: string, env: Record<string, string> = {}): Promise<number> {
  const log = `${dir}/${name}.log`;
  for (const k of Object.keys(env)) if (!/^[A-Za-z_]\w*$/.test(k)) throw new Error(`startDetached: bad environment variable name ${JSON.stringify(k)}`);
  const exports = Object.entries(env).map(([k, v]) => `export ${k}=${quote(v)}`).join('; ');
  const r = await host.exec([
    sh`mkdir -p ${dir}`,
    `${exports ? exports + '; ' : ''}setsid nohup sh -c ${quote(cmd)} >${quote(log)} 2>&1 </dev/null & echo $!`,
  ].join('\n'), { quiet: true, dryRunStdout: `<${name} pid>` });
  const pid = Number(r.stdout.trim().split('\n').pop());
  if (!Number.isInteger(pid) || pid <= 1) throw new Error(`[${host.name}] starting ${name} printed no PID (got ${JSON.stringify(r.stdout)})`);
  await writePidFile(host, dir, name, pid);
  return pid;
}
