// The podman engine's host scripts and commands (podman.ts composes them into the steps): the PID
// lookup and its guard, the quiesce/resume signal of the workload, the checkpoint export and restore
// import, the target's pull, the TCP-metrics flush and the test hook's checkpoint damage.
import { userdataDir } from './criu.ts';
import { quote, sh } from '../hosts/quote.ts';
import type { Host } from '../hosts/types.ts';
import { netToolPath } from '../nettool/index.ts';
import { workloadFor } from '../../experiments/workloads/index.ts';
import type { Config } from '../config/keys.ts';
import { StepFailure } from './errors.ts';
import type { MigrationRun } from './steps.ts';
import { pullCommand } from './transfer.ts';

/** Printed (with podman's state) and exit 4 when the server has no live PID: nothing was signalled. */
export const NO_SERVER = 'NO-SERVER';

/**
 * Refuse to signal anything but a live process of the container: a dead container's PID is 0, and
 * `kill -USR2 0` signals the script's own process group.
 */
export function pidGuard(name: string): string {
  return sh`case "$pid" in ''|0|1|*[!0-9]*) pid=;; esac; if [ -z "$pid" ] || [ ! -d "/proc/$pid" ]; then echo "${NO_SERVER} $(podman inspect --format '{{.State.Status}}' ${name} 2>/dev/null || echo missing)"; exit 4; fi`;
}

/** Find the container's PID: the recorded one if that process is still in the container's cgroup, else podman inspect. */
export function pidLookup(name: string, known?: { pid: number; id: string }): string {
  const inspect = sh`pid=$(podman inspect --format '{{.State.Pid}}' ${name} 2>/dev/null || true)`;
  const find = known
    ? `pid=${known.pid}\nif ! grep -qs ${quote(known.id.slice(0, 32))} /proc/$pid/cgroup; then ${inspect}; fi`
    : inspect;
  return `${find}\n${pidGuard(name)}`;
}

/** A NO_SERVER line of a script's output as the step's error ("server container not running on …"). */
export function noServer(
  r: MigrationRun,
  host: string,
  step: 'quiesce' | 'networkFixup',
  out: { values: Record<string, string> },
): StepFailure | undefined {
  const state = out.values[NO_SERVER];
  if (state === undefined) return undefined;
  return new StepFailure(
    step,
    `server container ${r.c.SERVER_CONTAINER} not running on ${host} (podman state: ${state || 'unknown'}); nothing was signalled`,
    { host, serverDown: true },
  );
}

/** Target: pull the checkpoint and print its size. */
export function pullScript(r: Pick<MigrationRun, 'method' | 'srcNode' | 'c' | 'dstTar' | 'dstDir' | 'target' | 'port'>): string {
  return [
    'set -e',
    sh`mkdir -p ${r.dstDir} && rm -f ${r.dstTar}`,
    'echo "mark pull_start $(date +%s%N)"',
    pullCommand(r.method, r.srcNode.directIp, r.port, r.dstTar, netToolPath(r.c, r.target), r.c.TRANSFER_STALL_TIMEOUT),
    'echo "mark pulled $(date +%s%N)"',
    sh`echo "size $(stat -c %s ${r.dstTar} 2>/dev/null || echo 0)"`,
  ].join('\n');
}

// After the switch both TCP ends (container, shim on LOADGEN_HOST) drop the per-destination metrics
// (RTT, ssthresh) cached from before the migration; a failed flush prints a line, not an exit.
export const FLUSH_FAILED = 'FLUSH-FAILED';
export const FLUSH_TCP_METRICS = `if ! out=$(ip tcp_metrics flush all 2>&1); then echo "${FLUSH_FAILED} $out"; fi`;

export const checkpointExportCmd = (tar: string, name: string): string =>
  sh`podman container checkpoint --export ${tar} --compress none --keep --tcp-established ${name}`;

/**
 * The restore, with `--keep` so CRIU's restore.log stays for the evidence that the migration's CRIU
 * settings were read. `--keep` also leaves the imported images in the restored container's
 * checkpoint folder, and the next dump writes into that folder without emptying it: the next export
 * would carry every earlier dump's tcp-stream-<inode>.img along (2560 files after 40 migrations
 * with 64 connections; podman's import costs ~1 ms a file: restore 0.46 → 3.6 s). So once the log is
 * read, dropRestoredImagesCmd empties that folder (outside the downtime).
 */
export const restoreImportCmd = (tar: string): string =>
  sh`podman container restore --import ${tar} --keep --tcp-established --ignore-static-mac`;

/** Removes the images a `--keep` restore left in the container's checkpoint folder (`idExpr`: a quoted id or "$id"). */
export const dropRestoredImagesCmd = (idExpr: string): string => `rm -rf ${userdataDir(idExpr)}/checkpoint`;

/** What quiesce means for the workload: its signal to the server (stream: SIGUSR2), or nothing (redis). */
export function quiesceCommand(c: Config): string {
  const sig = workloadFor(c).quiesceSignal;
  return sig ? `kill -${sig} "$pid"` : 'echo "quiesce none"';
}

/** After the restore: the same signal resumes a quiesced server; a workload without one needs nothing. */
export function resumeCommand(c: Config): string {
  const sig = workloadFor(c).quiesceSignal;
  return sig ? `kill -${sig} "$pid"` : 'echo "resume none"';
}

/** The test hook (CORRUPT_HOOK in podman.ts): overwrite the TCP stream images inside the checkpoint. */
export async function corruptCheckpoint(host: Host, tar: string): Promise<void> {
  await host.exec(
    [
      'set -e',
      sh`d=$(mktemp -d) && tar -xf ${tar} -C "$d"`,
      // overwrite the TCP stream images (and the inventory if there are none) with random bytes
      `set -- "$d"/checkpoint/tcp-stream-*.img; [ -e "$1" ] || set -- "$d"/checkpoint/inventory.img`,
      `for f in "$@"; do head -c 48 /dev/urandom | dd of="$f" bs=1 seek=4 conv=notrunc 2>/dev/null; done`,
      sh`(cd "$d" && tar -cf ${tar} $(ls -A))`,
      'rm -rf "$d"',
    ].join('\n'),
    { quiet: true },
  );
}
