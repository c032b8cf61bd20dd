// The switch daemon of each testbed mode behind one record, so phases (switchd, sync, collect) and
// experiments/clean.ts ask it instead of branching on TESTBED: local → the switch model
// (lib/modes/local/switch-model.ts), hw → bf_switchd from the SDE (lib/modes/hw/switchd.ts).
import type { Config } from '../config/keys.ts';
import type { Host } from '../hosts/types.ts';
import { localSwitchDaemon } from './local/switch-model.ts';
import { hwSwitchDaemon } from './hw/switchd.ts';

/** A process found running that this project did not start. */
export interface ForeignProcess {
  pid: number;
  cmdline: string;
}

export interface SwitchDaemon {
  /** Base name of its PID file and log in the switch's project dir. */
  name: string;
  /** Shell command that starts it (`exec …`). */
  command: string;
  env?: Record<string, string>;
  /** The bundle in dist/remote the switch needs to run it, if any. */
  bundle?: string;
  /** Keeps running after the run (bf_switchd takes minutes to come up) or is stopped by the run's undo. */
  outlivesRun: boolean;
  readyTimeoutMs: number;
  readyIntervalMs: number;
  /** What would stop it from starting (missing artifacts, hugepages, driver); [] when nothing. */
  startProblems(host: Host): Promise<string[]>;
  /** Instances running that this project did not start (excluding `ownPid`): adopted, never stopped. */
  foreign(host: Host, ownPid?: number): Promise<ForeignProcess[]>;
}

export interface SwitchDaemonContext {
  config: Config;
  /** The project dir on the switch. */
  dir: string;
  /** This checkout (for the local copies of the switchd confs in a dry run). */
  projectDir: string;
}

export function switchDaemon(c: SwitchDaemonContext): SwitchDaemon {
  return c.config.TESTBED === 'local' ? localSwitchDaemon(c) : hwSwitchDaemon(c);
}
