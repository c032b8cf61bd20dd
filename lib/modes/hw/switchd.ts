// The hardware switch daemon: bf_switchd from the SDE (command and environment in sde.ts). It
// outlives the run (it takes minutes to come up and owns the ports, as on the original testbed).
// Before a start, everything it needs is checked and reported at once (switchd-checks.ts); a
// bf_switchd this project did not start is found with `pgrep -x bf_switchd` so the switchd phase
// adopts it instead of starting a second one (which fails with EBUSY on the device).
import { sh } from '../../hosts/quote.ts';
import type { Host } from '../../hosts/types.ts';
import type { ForeignProcess, SwitchDaemon, SwitchDaemonContext } from '../switch-daemon.ts';
import { sdeEnv, switchdCommand } from './sde.ts';
import { switchdStartProblems, type HwProbeFiles } from './switchd-checks.ts';

export const SWITCHD_NAME = 'switchd';
export const SWITCHD_PROCESS = 'bf_switchd';

/** Running processes named `comm` (zombies left out: they hold no device), except `ownPid`. */
export async function processesNamed(host: Host, comm: string, ownPid?: number): Promise<ForeignProcess[]> {
  const r = await host.exec(
    [
      sh`for p in $(pgrep -x ${comm}); do`,
      sh`  [ "$p" = ${String(ownPid ?? 0)} ] && continue`,
      `  s=$(awk '{ sub(/^.*\\) /, ""); print $1 }' /proc/$p/stat 2>/dev/null); [ -z "$s" ] || [ "$s" = Z ] && continue`,
      `  echo "$p $(tr '\\0' ' ' < /proc/$p/cmdline)"`,
      'done',
    ].join('\n'),
    { quiet: true, allowFail: true },
  );
  return r.stdout
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .map((l) => {
      const i = l.indexOf(' ');
      return { pid: Number(i < 0 ? l : l.slice(0, i)), cmdline: i < 0 ? '' : l.slice(i + 1).trim() };
    })
    .filter((p) => Number.isInteger(p.pid) && p.pid > 1);
}

export function hwSwitchDaemon(c: SwitchDaemonContext, files?: Partial<HwProbeFiles>): SwitchDaemon {
  const { config, dir } = c;
  return {
    name: SWITCHD_NAME,
    command: switchdCommand(config, { projectDir: dir }),
    env: sdeEnv(config),
    outlivesRun: true,
    readyTimeoutMs: config.SWITCHD_READY_TIMEOUT,
    readyIntervalMs: 1000,
    startProblems: (host) => switchdStartProblems(host, c, files),
    foreign: (host, ownPid) => processesNamed(host, SWITCHD_PROCESS, ownPid),
  };
}
