// What every end-to-end test file on the local testbed needs: the project's own scripts run as a
// user would (clean.ts, testbed.ts), the run folder a run printed, and an afterAll that leaves the
// machine as the file found it — the project's clean-up for whatever a failed assertion left, and
// the testbed taken down again when this file was the one that brought it up.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, expect } from 'vitest';
import { isRunning } from './env.ts';
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

/** A command's stdout, also when it fails (an absent namespace or network is an answer here). */
function out(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8' });
  } catch (e) {
    return String((e as { stdout?: string }).stdout ?? '');
  }
}

/**
 * What a user checks after a run: no p4cf- container, no p4cf network, no shim on lakewood, no
 * process the run recorded (state.json) still running. `testbedOnly`: the p4cf- namespaces are
 * exactly the testbed's; `recorded`: the run recorded at least one process.
 */
export function assertRunLeftNothing(dir: string, o: { testbedOnly?: boolean; recorded?: boolean } = {}): void {
  const containers = out('podman', ['ps', '-a', '--format', '{{.Names}}'])
    .split('\n')
    .filter((n) => n.startsWith('p4cf-'));
  expect(containers, 'p4cf- containers left after the run').toEqual([]);
  const nets = out('podman', ['network', 'ls', '--filter', 'label=p4cf=1', '--format', '{{.Name}}']).trim();
  expect(nets, 'p4cf networks left').toBe('');
  if (o.testbedOnly) {
    const ns = out('ip', ['netns', 'list'])
      .split('\n')
      .map((l) => l.split(' ')[0])
      .filter((n) => n.startsWith('p4cf-'));
    expect(ns.sort()).toEqual(['p4cf-lakewood', 'p4cf-loveland', 'p4cf-tofino']);
  }
  expect(out('ip', ['-n', 'p4cf-lakewood', 'link', 'show']), 'shim left on lakewood').not.toMatch(/macshim/);
  const state = JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')) as Record<string, unknown>;
  const w = (state.workload ?? {}) as { loadgenPid?: number; collectorPid?: number };
  const pids = [state.switchdPid, state.controllerPid, w.loadgenPid, w.collectorPid].filter(
    (p): p is number => typeof p === 'number',
  );
  if (o.recorded) expect(pids.length).toBeGreaterThan(0);
  for (const pid of pids) {
    const alive = isRunning(pid) && /node|tsx/.test(readFileSync(`/proc/${pid}/cmdline`, 'utf8'));
    expect(alive, `process ${pid} recorded by the run still runs`).toBe(false);
  }
}
