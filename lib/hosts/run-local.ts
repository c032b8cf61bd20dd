// Commands on this machine from argv (no shell), for the local testbed's setup and prerequisites:
// output collected, a non-zero exit thrown as CommandError naming the command, code and stderr tail.
import { spawn } from 'node:child_process';
import { showCommand } from './quote.ts';
import { tail } from '../run/text.ts';

export interface RunOpts {
  allowFail?: boolean;
  timeoutMs?: number;
  cwd?: string;
  env?: Record<string, string>;
  input?: string;
}
export interface RunResult {
  stdout: string;
  stderr: string;
  code: number;
}

/** A local command failed; the message names the command, exit code and the end of its stderr. */
export class CommandError extends Error {
  constructor(
    readonly command: string,
    readonly code: number,
    readonly stderrTail: string,
  ) {
    super(`[local] \`${command}\` exited with code ${code}${stderrTail ? `: ${stderrTail}` : ''}`);
    this.name = 'CommandError';
  }
}

/** argv as one line someone can paste into a shell. */

/** Run argv (no shell) and collect its output; throws CommandError on a non-zero exit unless allowFail. */
export function run(argv: string[], opts: RunOpts = {}): Promise<RunResult> {
  const command = showCommand(argv);
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0], argv.slice(1), {
      cwd: opts.cwd,
      env: opts.env ? { ...process.env, ...opts.env } : process.env,
      stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (c: Buffer) => {
      stdout += c;
    });
    child.stderr!.on('data', (c: Buffer) => {
      stderr += c;
    });
    if (opts.input !== undefined) child.stdin!.end(opts.input);
    const timer = opts.timeoutMs
      ? setTimeout(() => {
          stderr += `\n(killed after ${opts.timeoutMs} ms)`;
          child.kill('SIGKILL');
        }, opts.timeoutMs)
      : undefined;
    child.on('error', (e) => {
      if (timer) clearTimeout(timer);
      const r = { stdout, stderr: `${stderr}${e.message}`, code: 127 };
      if (opts.allowFail) resolve(r);
      else reject(new CommandError(command, 127, e.message));
    });
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      const rc = code ?? (signal ? 128 : 1);
      if (rc !== 0 && !opts.allowFail) reject(new CommandError(command, rc, tail(stderr || stdout, 12)));
      else resolve({ stdout, stderr, code: rc });
    });
  });
}
