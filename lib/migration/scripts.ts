// The host-side scripts of one migration. Each SSH command costs a round trip (≈0.1 s here,
// more on a busy machine) and each podman CLI call ≈0.3 s, so the downtime path is three
// scripts: source (quiesce, drain, checkpoint, start the transfer listener), target (pull and
// size), target (restore, network, resume). Each prints `mark NAME NS` lines from the host's
// clock; durations between marks of one host are exact, whatever that clock's offset.
import type { Config } from '../config/keys.ts';
import { containerNetScript, drainScript, PID_VAR, type ServerNode } from '../server/net.ts';
import { quote, sh } from '../hosts/remote.ts';
import { pullCommand, serveCommand, type TransferMethod } from './transfer.ts';

const mark = (name: string) => `echo "mark ${name} $(date +%s%N)"`;

/** Find the container's PID: the recorded one if that process is still in the container's cgroup, else podman inspect. */
function pidLookup(name: string, known?: { pid: number; id: string }): string {
  const inspect = sh`pid=$(podman inspect --format '{{.State.Pid}}' ${name})`;
  if (!known) return inspect;
  return `pid=${known.pid}\nif ! grep -qs ${quote(known.id.slice(0, 32))} /proc/$pid/cgroup; then ${inspect}; fi`;
}

/** The dump: `--keep` leaves CRIU's dump.log and stats-dump beside the source container (removed with it). */
export const checkpointExportCmd = (tar: string, name: string): string =>
  sh`podman container checkpoint --export ${tar} --compress none --keep --tcp-established ${name}`;

/**
 * The restore, without `--keep`: with it podman leaves the imported images in the restored
 * container's checkpoint folder, the next dump writes into that folder without emptying it, and the
 * next export carries every earlier dump's tcp-stream-<inode>.img along (one per connection per
 * migration: 2560 files after 40 migrations with 64 connections, and podman's import costs ~1 ms a
 * file: restore 0.46 → 3.6 s). A failed restore keeps its files (restore.log) either way.
 */
export const restoreImportCmd = (tar: string): string =>
  sh`podman container restore --import ${tar} --tcp-established --ignore-static-mac`;

export interface CheckpointScriptOpts {
  name: string;
  dir: string;
  tar: string;
  drainTimeoutMs: number;
  known?: { pid: number; id: string };
  serve: { method: TransferMethod; bindIp: string; port: number; timeoutS: number };
}

/**
 * Source: quiesce (SIGUSR2 to the server), drain, checkpoint, then start the transfer listener
 * detached (bounded by `timeout`), so the target can pull as soon as this returns.
 * Prints: mark start/quiesced/drained/checkpointed, `drain …`, `size N`, `pid N`.
 */
export function checkpointScript(o: CheckpointScriptOpts): string {
  return [
    'set -e',
    mark('start'),
    sh`mkdir -p ${o.dir} && rm -f ${o.tar}`,
    pidLookup(o.name, o.known),
    'echo "pid $pid"',
    'kill -USR2 "$pid"',
    'echo quiesced',
    mark('quiesced'),
    `drain=$(${drainScript(PID_VAR, o.drainTimeoutMs)})`,
    'echo "drain $drain"',
    mark('drained'),
    `${checkpointExportCmd(o.tar, o.name)} >/dev/null`,
    'echo checkpointed',
    mark('checkpointed'),
    sh`echo "size $(stat -c %s ${o.tar})"`,
    // detached listener: output to /dev/null so this SSH command returns at once
    `setsid timeout ${o.serve.timeoutS} ${serveCommand(o.serve.method, o.tar, o.serve.bindIp, o.serve.port)} >/dev/null 2>&1 </dev/null &`,
    mark('serving'),
  ].join('\n');
}

/** Target: pull the checkpoint and print its size. */
export function pullScript(method: TransferMethod, ip: string, port: number, file: string, dir: string): string {
  return [
    'set -e',
    sh`mkdir -p ${dir} && rm -f ${file}`,
    mark('pull_start'),
    pullCommand(method, ip, port, file),
    mark('pulled'),
    sh`echo "size $(stat -c %s ${file})"`,
  ].join('\n');
}

/**
 * Target: restore, find the PID (runc's pidfile under the container's userdata, else inspect),
 * fix the network in the container, resume. Exit 3 with podman's output after "RESTORE-FAILED"
 * when the restore fails.
 */
export function restoreScript(config: Config, node: ServerNode, tar: string): string {
  const name = config.SERVER_CONTAINER;
  return [
    mark('restore_start'),
    `if ! out=$(${restoreImportCmd(tar)} 2>&1); then echo RESTORE-FAILED; echo "$out"; exit 3; fi`,
    'id=$(echo "$out" | tail -n 1)',
    'echo "id $id"',
    mark('restored'),
    'set -e',
    'pid=$(cat "/var/lib/containers/storage/overlay-containers/$id/userdata/pidfile" 2>/dev/null || true)',
    sh`case "$pid" in ''|*[!0-9]*) pid=$(podman inspect --format '{{.State.Pid}}' ${name});; esac`,
    'echo "pid $pid"',
    containerNetScript(config, node, PID_VAR),
    mark('network'),
    'kill -USR2 "$pid"',
    mark('resumed'),
  ].join('\n');
}

export interface ScriptOutput { marks: Record<string, bigint>; values: Record<string, string>; lines: string[] }

/** Parse `mark NAME NS` and `KEY VALUE` lines. */
export function parseScriptOutput(stdout: string): ScriptOutput {
  const marks: Record<string, bigint> = {};
  const values: Record<string, string> = {};
  const lines = stdout.split('\n').map((l) => l.trim()).filter(Boolean);
  for (const l of lines) {
    const m = l.match(/^mark (\w+) (\d+)$/);
    if (m) { marks[m[1]] = BigInt(m[2]); continue; }
    const kv = l.match(/^(\w+) (.*)$/);
    if (kv) values[kv[1]] = kv[2];
    else values[l] = '';
  }
  return { marks, values, lines };
}

/** ms between two marks of the same host. */
export function markMs(o: ScriptOutput, from: string, to: string): number {
  const a = o.marks[from];
  const b = o.marks[to];
  if (a === undefined || b === undefined) throw new Error(`script output lacks mark ${a === undefined ? from : to} (got: ${Object.keys(o.marks).join(', ') || 'none'})`);
  return Number(b - a) / 1e6;
}
