// A private PID + mount + network namespace on this machine, and a Host whose commands run in it:
// `pgrep`, /proc and 127.0.0.1 ports there see only what the test started, never another
// checkout's processes (the hardware switchd checks look for any bf_switchd by name). Root only.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createLocalHost } from '../../lib/hosts/local.ts';
import { sh } from '../../lib/hosts/quote.ts';
import type { Host } from '../../lib/hosts/types.ts';

export interface PidNs {
  pid: number;
  /** Commands in all three namespaces; `netOnly`: only the network namespace (podman keeps this machine's /proc). */
  host(name?: string, o?: { netOnly?: boolean }): Host;
  close(): void;
}

export async function openPidNs(): Promise<PidNs> {
  // PID 1 there is sleep: it never reaps, so an exited daemon stays a zombie — the case the
  // daemon checks must treat as gone.
  const child: ChildProcess = spawn(
    'unshare',
    ['--pid', '--fork', '--mount-proc', '--net', 'sh', '-c', 'ip link set lo up && echo up && exec sleep 3600'],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  await new Promise<void>((res, rej) => {
    child.once('error', rej);
    child.once('exit', (code) => rej(new Error(`unshare exited with ${code}`)));
    child.stdout!.once('data', () => res());
  });
  const inner = Number(readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8').trim().split(/\s+/)[0]);
  if (!Number.isInteger(inner) || inner <= 1) throw new Error(`no namespace init under unshare ${child.pid}`);
  return {
    pid: inner,
    host(name = 'tofino', o = {}) {
      const base = createLocalHost({}, name);
      const spaces = o.netOnly ? ['-n'] : ['-p', '-m', '-n'];
      return { ...base, exec: (cmd, opts) => base.exec(sh`nsenter -t ${inner} ${spaces} sh -c ${cmd}`, opts) };
    },
    close() {
      try {
        process.kill(inner, 'SIGKILL');
      } catch {
        /* already gone */
      }
      child.kill('SIGKILL');
    },
  };
}
