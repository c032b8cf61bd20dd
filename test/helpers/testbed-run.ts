// What every end-to-end test file on the local testbed needs: the project's own scripts run as a
// user would (clean.ts, testbed.ts), the run folder a run printed, and an afterAll that leaves the
// machine as the file found it — the project's clean-up for whatever a failed assertion left, and
// the testbed taken down again when this file was the one that brought it up.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { projectDir } from './runner.ts';

const tsxCli = join(projectDir, 'node_modules', 'tsx', 'dist', 'cli.mjs');

/** The run folder named in a run's output (`results [(partial) ]in …` / `run folder …`), absolute. */
export function runDirOf(stdout: string): string {
  const m = stdout.match(/results (?:\(partial\) )?in (\S+)/) ?? stdout.match(/run folder (\S+)/);
  if (!m) throw new Error(`no run folder in the runner's output:\n${stdout.slice(-3000)}`);
  return m[1].startsWith('/') ? m[1] : join(projectDir, m[1]);
}

export interface TestbedUse {
  /** Runs experiments/<script> with tsx; throws with its output when it fails. */
  tsx(script: string, ...args: string[]): string;
  /** Whether the testbed was up before this file ran. */
  wasUp: boolean;
}

/**
 * Registers the file's afterAll: `before` first (e.g. undo a fault the file injected), then
 * clean.ts, then `testbed.ts down` if this file brought the testbed up, then `after` (checks of
 * what is left). `prefix`/`env`: a testbed of the file's own (TESTBED_PREFIX and its addresses).
 */
export function useLocalTestbed(
  o: { prefix?: string; env?: Record<string, string>; before?: () => unknown; after?: () => unknown } = {},
): TestbedUse {
  const prefix = o.prefix ?? o.env?.TESTBED_PREFIX ?? 'p4cf-';
  const wasUp = existsSync(`/run/netns/${prefix}tofino`);
  const tsx = (script: string, ...args: string[]): string => {
    try {
      return execFileSync(process.execPath, [tsxCli, join(projectDir, 'experiments', script), ...args], {
        cwd: projectDir,
        encoding: 'utf8',
        stdio: 'pipe',
        env: { ...process.env, ...o.env },
      });
    } catch (e) {
      const x = e as { status?: number; stdout?: string; stderr?: string };
      throw new Error(
        `experiments/${script} ${args.join(' ')} failed (exit ${x.status}):\n${String(x.stdout ?? '').slice(-2000)}\n${String(x.stderr ?? '').slice(-2000)}`,
      );
    }
  };
  afterAll(async () => {
    try {
      await o.before?.();
    } finally {
      try {
        tsx('clean.ts');
      } finally {
        if (!wasUp) tsx('testbed.ts', 'down');
      }
    }
    await o.after?.();
  });
  return { tsx, wasUp };
}
