// Typed failures of a migration. Code that must react to a failure (recovery, the phase, tests)
// looks at these fields, never at message text.
import type { ServerName } from '../server/net.ts';
import type { RestoreDiagnosis } from './diagnosis.ts';
import type { StepName } from './steps.ts';

/** A step of the procedure failed (before any recovery was tried). */
export class StepFailure extends Error {
  constructor(
    public step: StepName,
    message: string,
    public detail?: {
      host?: string;
      code?: number;
      stderr?: string /** the command did not return (SSH lost, timeout): how far it got is unknown */;
      interrupted?: boolean;
      /** the run was interrupted (Ctrl-C) between steps: the step named did not start */ aborted?: boolean;
      /** the server container had no live process: nothing was signalled */ serverDown?: boolean;
    },
  ) {
    super(message);
    this.name = 'StepFailure';
  }
}

/** The restore step failed inside podman/CRIU; carries the diagnosis and where it was saved. */
export class RestoreFailure extends StepFailure {
  constructor(
    public host: string,
    public diagnosis: RestoreDiagnosis,
    public evidence: { podmanOutput: string; criuLog: string; criuLogPath?: string },
  ) {
    super('restore', `restore on ${host} failed: ${diagnosis.summary} (cause ${diagnosis.cause}; ${diagnosis.hint})`, { host });
    this.name = 'RestoreFailure';
  }
}

/**
 * Post-copy (lazy engine): the memory pages still on the source stopped arriving after the switch.
 * Carries what recovery can say of the two ends; recovery does not roll back (lazy.ts says why).
 */
export class LazyPagesFailure extends StepFailure {
  constructor(
    message: string,
    public state: { targetAlive: boolean; sourceImages: boolean; recovery: string },
    /** migration_<i>_lazy_diagnosis.txt in the run folder. */
    public file: string,
  ) {
    super('postSwitch', message);
    this.name = 'LazyPagesFailure';
  }
}

/** What the failed migration left behind, after recovery was tried. */
export interface MigrationErrorInfo {
  index: number;
  source: ServerName;
  target: ServerName;
  /** The step that failed. */
  step: StepName;
  /** True when the service runs again (on the source) after the failure. */
  recovered: boolean;
  /** What recovery did or why it failed, one sentence. */
  recovery: string;
  /** migration_<i>_restore_diagnosis.txt in the run folder, when a restore failed. */
  diagnosisFile?: string;
  cause: Error;
}

export class MigrationError extends Error implements MigrationErrorInfo {
  index: number;
  source: ServerName;
  target: ServerName;
  step: StepName;
  recovered: boolean;
  recovery: string;
  diagnosisFile?: string;
  cause: Error;
  constructor(i: MigrationErrorInfo) {
    super(
      `migration ${i.index} ${i.source}→${i.target} failed at step ${i.step}: ${i.cause.message}` +
        `${i.diagnosisFile ? ` Diagnosis: ${i.diagnosisFile}.` : ''}${i.recovery ? ` — ${i.recovery}` : ''}`,
    );
    this.name = 'MigrationError';
    this.index = i.index;
    this.source = i.source;
    this.target = i.target;
    this.step = i.step;
    this.recovered = i.recovered;
    this.recovery = i.recovery;
    this.diagnosisFile = i.diagnosisFile;
    this.cause = i.cause;
  }
}

/** Marker the restore script prints before podman's output when `podman container restore` fails. */
export const RESTORE_FAILED = 'RESTORE-FAILED';

/** The CRIU log path podman prints after a failed restore ("log file: …/restore.log"). */
export function restoreLogPath(podmanOutput: string): string | undefined {
  return podmanOutput.match(/log file:\s*(\S+restore\.log)/)?.[1];
}

/**
 * A restore script's result, read once: undefined when podman's restore itself succeeded (a
 * later step may still have failed), else podman's output and the CRIU log it names.
 */
export function parseRestoreFailure(r: {
  code: number;
  stdout: string;
  stderr: string;
}): { podmanOutput: string; logPath?: string } | undefined {
  if (r.code === 0) return undefined;
  const at = r.stdout.indexOf(RESTORE_FAILED);
  if (at < 0) return undefined;
  const podmanOutput = r.stdout.slice(at + RESTORE_FAILED.length).trim();
  return { podmanOutput, logPath: restoreLogPath(podmanOutput) };
}
