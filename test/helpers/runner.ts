// Spawn experiments/run.ts as a child process, as a user would, and collect its output.
import { spawn, type ChildProcess } from 'node:child_process';
import { join, resolve } from 'node:path';

export const projectDir = resolve(import.meta.dirname, '..', '..');
const tsxCli = join(projectDir, 'node_modules', 'tsx', 'dist', 'cli.mjs');

export interface Spawned {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves with the exit code (signal → 128+n). */
  exit: Promise<number>;
  /** Resolves when stdout contains `text`; rejects after `ms`. */
  waitFor(text: string, ms: number): Promise<void>;
}

/**
 * Runs of the fixture phase list touch no testbed, but every run takes its testbed's lock: give them
 * a prefix of their own (per test process), so they never wait for — or block — a real run.
 */
function fixturePrefix(env: Record<string, string | undefined>): Record<string, string> {
  return env.P4CF_PHASES_MODULE && !env.TESTBED_PREFIX && !process.env.TESTBED_PREFIX
    ? { TESTBED_PREFIX: `f${process.pid % 10000}-` }
    : {};
}

export function spawnRunner(args: string[], env: Record<string, string | undefined> = {}): Spawned {
  // The caller's environment passes through (declared config keys too); `env` adds to or overrides it.
  // P4CF_STRICT_STATE: a phase touching a state key it does not declare fails the test's run.
  const child = spawn(process.execPath, [tsxCli, join(projectDir, 'experiments', 'run.ts'), ...args], {
    cwd: projectDir,
    env: { ...process.env, CI: '1', P4CF_STRICT_STATE: '1', ...fixturePrefix(env), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout!.on('data', (b) => {
    out += b.toString();
  });
  child.stderr!.on('data', (b) => {
    err += b.toString();
  });
  const exit = new Promise<number>((res) =>
    child.once('exit', (code, sig) => res(code ?? 128 + (sig === 'SIGINT' ? 2 : sig === 'SIGKILL' ? 9 : 15))),
  );
  return {
    child,
    exit,
    stdout: () => out,
    stderr: () => err,
    waitFor(text, ms) {
      return new Promise((res, rej) => {
        const t0 = Date.now();
        const tick = setInterval(() => {
          if (out.includes(text)) {
            clearInterval(tick);
            res();
          } else if (Date.now() - t0 > ms || child.exitCode !== null) {
            clearInterval(tick);
            rej(
              new Error(
                `runner did not print ${JSON.stringify(text)} within ${ms} ms (exit ${child.exitCode}); stdout:\n${out}\nstderr:\n${err}`,
              ),
            );
          }
        }, 50);
      });
    },
  };
}

/** Run to completion with a time bound; kills the child by its PID if it overruns. */
export async function runRunner(
  args: string[],
  env: Record<string, string | undefined> = {},
  ms = 60_000,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const s = spawnRunner(args, env);
  const timer = setTimeout(() => s.child.kill('SIGKILL'), ms);
  const code = await s.exit;
  clearTimeout(timer);
  return { code, stdout: s.stdout(), stderr: s.stderr() };
}
