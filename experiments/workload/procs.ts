// Start/stop helpers for the workload programs as local child processes (tests, benchmarks):
// spawned as `node --import tsx FILE` so the recorded PID is the program itself, not a wrapper.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
export { freePort } from '../../lib/hosts/ports.ts';

const here = dirname(fileURLToPath(import.meta.url));
export const workloadFile = (name: 'server' | 'loadgen' | 'collector'): string => join(here, `${name}.ts`);

export interface Proc {
  pid: number;
  child: ChildProcess;
  exited: Promise<number | null>;
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<number | null>;
}

/** Runs a TypeScript program with tsx, output to `logFile`. */
export function startTs(file: string, args: string[], logFile: string, cwd?: string): Proc {
  const out = createWriteStream(logFile, { flags: 'a' });
  const child = spawn(process.execPath, ['--import', 'tsx', file, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.pipe(out, { end: false });
  child.stderr!.pipe(out, { end: false });
  if (child.pid === undefined) throw new Error(`could not start ${file}`);
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => {
      out.end();
      resolve(code);
    }),
  );
  return {
    pid: child.pid,
    child,
    exited,
    async stop(signal = 'SIGTERM', timeoutMs = 10_000) {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill(signal);
      const t = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      try {
        return await exited;
      } finally {
        clearTimeout(t);
      }
    },
  };
}
