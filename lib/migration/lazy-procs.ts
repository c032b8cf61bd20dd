// The lazy engine's helper processes (lazy.ts): the source's page server and the target's
// lazy-pages daemon run detached in their own process groups, bounded by `timeout`, each leaving its
// log and a `done` file (exit code and the host's clock when it ended). They are recorded by PID in
// the run (r.v.daemons) and registered with the run's cleanup, and ended by PID.
import { quote } from '../hosts/quote.ts';
import type { Host } from '../hosts/types.ts';
import type { MigrationRun } from './steps.ts';

/** The page server listens next to the transfer port. */
export const pageServerPort = (r: Pick<MigrationRun, 'port'>) => (r.port < 65535 ? r.port + 1 : r.port - 1);
/** Files of the two helpers: log, readiness byte (page server) and `EXIT_CODE NS` when it ended. */
export const helperFiles = (dir: string, name: 'page-server' | 'lazy-pages') => ({
  log: `${dir}/${name}.log`,
  ready: `${dir}/${name}.ready`,
  done: `${dir}/${name}.done`,
});

/** Resume instant on the target's clock, per run (r.v is the same object through one migration). */
export const resumedAt = new WeakMap<MigrationRun['v'], bigint>();

/**
 * Starts `cmd` detached in its own process group, bounded by `timeout`, and prints `NAME PID`; when
 * it ends, `done` gets its exit code and the host's clock in ns. The script's $NAME_pid holds the PID.
 */
export function detached(name: string, cmd: string, done: string, timeoutMs: number, env = ''): string {
  const body = `${cmd}; echo "$? $(date +%s%N)" > ${quote(done)}`;
  return [
    `${env}setsid timeout ${Math.ceil(timeoutMs / 1000)} sh -c ${quote(body)} </dev/null >/dev/null 2>&1 &`,
    `${name}_pid=$!; echo "${name} $${name}_pid"`,
  ].join('\n');
}

/** Records a helper by PID and registers its end with the run's cleanup. */
export function track(r: MigrationRun, host: Host, pid: number, what: string): void {
  if (!Number.isInteger(pid) || pid <= 1) return;
  const unregister = r.ctx.cleanup.add(`${what} on ${host.name} (pid ${pid})`, () => endHelper(host, pid));
  (r.v.daemons ??= []).push({ host, pid, what, unregister });
}

/** Ends a helper's process group, only while its leader is still the `timeout` we started. */
export async function endHelper(host: Host, pid: number): Promise<void> {
  await host.exec(`if grep -qs '^timeout' /proc/${pid}/cmdline; then kill -TERM -${pid} 2>/dev/null; fi; true`, {
    quiet: true,
    allowFail: true,
    timeoutMs: 10_000,
  });
}

/** Ends every helper of the run still running and drops them from the cleanup (recovery, after a failure). */
export async function endHelpers(r: MigrationRun): Promise<void> {
  const all = r.v.daemons ?? [];
  r.v.daemons = [];
  await Promise.all(all.map((d) => endHelper(d.host, d.pid).then(() => d.unregister())));
}
