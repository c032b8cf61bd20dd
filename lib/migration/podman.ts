// The published procedure with podman: each step's host commands and what it reads back. Source
// script: quiesce (SIGUSR2 to the server), drain, `podman container checkpoint --export`, then the
// transfer listener detached (bounded by `timeout`) so the target can pull at once. Target script:
// `podman container restore --import`, network fix-up in the container's netns, resume.
import { writeFileSync } from 'node:fs';
import { quote, sh } from '../hosts/quote.ts';
import { tail } from '../run/text.ts';
import type { Host } from '../hosts/types.ts';
import { ARPING_MISSING, containerNetScript, drainScript, inNetns, PID_VAR } from '../server/net.ts';
import { netToolPath } from '../nettool/index.ts';
import { workloadFor } from '../../experiments/workloads/index.ts';
import type { Config } from '../config/keys.ts';
import { controllerFor, postFromHost, switchUpdateFrom } from '../switch/controller-client.ts';
import { criuEvidenceCmd, parseCriuEvidence, userdataDir, writeCriuConfigCmd } from './criu.ts';
import { diagnoseRestore } from './diagnosis.ts';
import { parseRestoreFailure, RESTORE_FAILED, RestoreFailure, StepFailure } from './errors.ts';
import { criuFreezerWaitCmd, freezeScript, parseFreezerWait, THAW } from './freezer.ts';
import { mark, maybeMs, nsOfMs, parseScriptOutput } from './scripts.ts';
import type { Engine, MigrationRun } from './steps.ts';
import { nowNs } from './timing.ts';
import { pullCommand, serveCommand } from './transfer.ts';

/**
 * Test hook, documented in the README: P4CF_TEST_CORRUPT_CHECKPOINT=1 damages the TCP images
 * inside the checkpoint on the target after the transfer was verified, so the restore fails
 * the way a damaged checkpoint would (used by test/e2e.test.ts to exercise the recovery path).
 */
export const CORRUPT_HOOK = 'P4CF_TEST_CORRUPT_CHECKPOINT';

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
function pidLookup(name: string, known?: { pid: number; id: string }): string {
  const inspect = sh`pid=$(podman inspect --format '{{.State.Pid}}' ${name} 2>/dev/null || true)`;
  const find = known
    ? `pid=${known.pid}\nif ! grep -qs ${quote(known.id.slice(0, 32))} /proc/$pid/cgroup; then ${inspect}; fi`
    : inspect;
  return `${find}\n${pidGuard(name)}`;
}

/** A NO_SERVER line of a script's output as the step's error ("server container not running on …"). */
function noServer(
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
function pullScript(r: Pick<MigrationRun, 'method' | 'srcNode' | 'c' | 'dstTar' | 'dstDir' | 'target'>): string {
  return [
    'set -e',
    sh`mkdir -p ${r.dstDir} && rm -f ${r.dstTar}`,
    'echo "mark pull_start $(date +%s%N)"',
    pullCommand(
      r.method,
      r.srcNode.directIp,
      r.c.TRANSFER_PORT,
      r.dstTar,
      netToolPath(r.c, r.target),
      r.c.TRANSFER_STALL_TIMEOUT,
    ),
    'echo "mark pulled $(date +%s%N)"',
    sh`echo "size $(stat -c %s ${r.dstTar} 2>/dev/null || echo 0)"`,
  ].join('\n');
}

// After the switch both TCP ends (container, shim on lakewood) drop the per-destination metrics
// (RTT, ssthresh) cached from before the migration; a failed flush prints a line, not an exit.
const FLUSH_FAILED = 'FLUSH-FAILED';
const FLUSH_TCP_METRICS = `if ! out=$(ip tcp_metrics flush all 2>&1); then echo "${FLUSH_FAILED} $out"; fi`;

// One warning per run and host: a missing arping does not change between migrations.
const arpingWarned = new Set<string>();

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

export const podmanEngine: Engine = {
  name: 'podman',

  prepareTarget: {
    async run(r) {
      await r.dst.exec(writeCriuConfigCmd(), { quiet: true });
      if (r.c.CR_SKIP_IMAGE_CHECK) return;
      const image = workloadFor(r.c).image(r.c);
      const img = await r.dst.exec(sh`podman image exists ${image}`, { quiet: true, allowFail: true });
      if (img.code !== 0 && !r.ctx.dryRun) {
        throw new StepFailure(
          'prepareTarget',
          `[${r.target}] image ${image} is missing on the target (run the images phase, or CR_SKIP_IMAGE_CHECK=true)`,
        );
      }
    },
  },

  quiesce: {
    mark: 'quiesced',
    script: (r) =>
      [
        sh`mkdir -p ${r.srcDir} && rm -f ${r.srcTar}`,
        pidLookup(r.c.SERVER_CONTAINER, r.known),
        'echo "pid $pid"',
        quiesceCommand(r.c),
        'echo quiesced',
      ].join('\n'),
    read(r, o) {
      r.m.quiesced = r.m.start! + nsOfMs(maybeMs(o, 'start', 'quiesced') ?? 0);
    },
    async failed(r, res, o) {
      return (
        noServer(r, r.source, 'quiesce', o) ??
        new StepFailure('quiesce', `[${r.source}] step quiesce failed (exit ${res.code}): ${tail(res.stderr || res.stdout, 8)}`, {
          host: r.source,
          code: res.code,
        })
      );
    },
  },

  drain: {
    mark: 'drained',
    script: (r) => [`drain=$(${drainScript(PID_VAR, r.c.DRAIN_TIMEOUT)})`, 'echo "drain $drain"'].join('\n'),
    read(r, o) {
      r.m.drained = r.m.start! + nsOfMs(maybeMs(o, 'start', 'drained') ?? 0);
      const d = o.values.drain ?? '';
      r.v.extra.drain = d || 'n/a';
      if (/^(timeout|unreadable)\b/.test(d)) {
        r.ctx.log.warn(
          `${r.tag}: send queues not confirmed empty within DRAIN_TIMEOUT ${r.c.DRAIN_TIMEOUT} ms (${d}); checkpointing anyway`,
        );
      }
    },
  },

  checkpoint: {
    mark: 'checkpointed',
    // frozen first: skips CRIU's 100 ms freezer sleep (freezer.ts); thawed again if the dump fails
    script: (r) =>
      [
        writeCriuConfigCmd(),
        freezeScript(PID_VAR),
        mark('frozen'),
        `if ! ${checkpointExportCmd(r.srcTar, r.c.SERVER_CONTAINER)} >/dev/null; then ${THAW}; exit 1; fi`,
        'echo checkpointed',
      ].join('\n'),
    read(r, o) {
      // the leg ended after the transfer offer: the checkpoint ended that long before
      r.m.checkpointDone = r.legEndNs - nsOfMs(maybeMs(o, 'checkpointed', 'serving') ?? 0);
      if (r.m.drained! > r.m.checkpointDone) r.m.drained = r.m.checkpointDone;
      if (r.m.quiesced! > r.m.drained!) r.m.quiesced = r.m.drained;
      const ms = maybeMs(o, 'frozen', 'checkpointed');
      if (ms !== undefined) r.v.extra.podman_checkpoint_ms = round3(ms);
      const fz = maybeMs(o, 'drained', 'frozen');
      if (fz !== undefined) r.v.extra.freeze_ms = round3(fz);
      r.v.extra.freeze = o.values.freeze ?? 'n/a';
    },
  },

  transfer: {
    offer: {
      mark: 'serving',
      // detached listener: output to /dev/null so this SSH command returns at once
      script: (r) =>
        [
          sh`echo "size $(stat -c %s ${r.srcTar})"`,
          `setsid timeout 120 ${serveCommand(r.method, r.srcTar, r.srcNode.directIp, r.c.TRANSFER_PORT, netToolPath(r.c, r.source))} >/dev/null 2>&1 </dev/null &`,
          'echo "listener $!"',
        ].join('\n'),
      read(r, o) {
        r.v.size = Number(o.values.size ?? 0);
        const l = Number(o.values.listener);
        if (Number.isInteger(l) && l > 1) r.v.listener = l;
        r.say(
          `checkpoint done in ${(Number(r.m.checkpointDone! - r.m.start!) / 1e6).toFixed(0)} ms (drain: ${o.values.drain || 'n/a'}, ${r.v.size} bytes)`,
        );
      },
    },
    pull: {
      async run(r) {
        // the run's signal ends a transfer (the checkpoint stays on the source, which recovers)
        const res = await r.dst.exec(pullScript(r), { quiet: true, allowFail: true, timeoutMs: 120_000, signal: r.signal });
        r.m.transferEnd = nowNs();
        const link = `over the direct link ${r.source} ${r.srcNode.directIf} ${r.srcNode.directIp}:${r.c.TRANSFER_PORT} → ${r.target} ${r.dstNode.directIf} (${r.method})`;
        const limits = `connect timeout ${r.c.TRANSFER_STALL_TIMEOUT} ms, no data for ${r.c.TRANSFER_STALL_TIMEOUT} ms aborts`;
        if (res.code !== 0) {
          throw new StepFailure(
            'transfer',
            `checkpoint transfer ${link} failed (exit ${res.code}; ${limits}): ${tail(res.stderr, 8)}`,
            { host: r.target, code: res.code, stderr: res.stderr },
          );
        }
        const got = Number(parseScriptOutput(res.stdout).values.size ?? -1);
        if (!r.c.CR_SKIP_VERIFY && !r.ctx.dryRun && got !== r.v.size) {
          const what =
            got <= 0 ? 'no data arrived (no connection, or the link is down)' : `stalled after ${got} of ${r.v.size} bytes`;
          throw new StepFailure(
            'transfer',
            `checkpoint transfer ${link}: ${what} (${limits}); ${r.source}:${r.srcTar} has ${r.v.size} bytes, ` +
              `${r.target}:${r.dstTar} has ${Math.max(0, got)} bytes (CR_SKIP_VERIFY=true skips this check)`,
            { host: r.target },
          );
        }
        if (process.env[CORRUPT_HOOK] === '1') {
          r.ctx.log.warn(`${CORRUPT_HOOK}=1: damaging the checkpoint on ${r.target} (test hook) — the restore will fail`);
          await corruptCheckpoint(r.dst, r.dstTar);
        }
      },
    },
  },

  // The checkpoint stopped the container (its macvlan is gone); removing it frees the name, which
  // the restore needs where both servers share podman storage (local testbed). Before that, CRIU's
  // dump log tells whether it read the migration's CRIU settings.
  removeSource: {
    async run(r) {
      r.m.sourceStopStart = nowNs();
      const evidence = r.known
        ? `${criuEvidenceCmd(`${userdataDir(quote(r.known.id))}/dump.log`)}\n${criuFreezerWaitCmd(`${userdataDir(quote(r.known.id))}/dump.log`)}\n`
        : '';
      const res = await r.src.exec(`${evidence}${sh`podman rm -f ${r.c.SERVER_CONTAINER} >/dev/null`}`, { quiet: true });
      r.m.sourceStopDone = nowNs();
      r.v.extra.criu_config_dump = r.known ? parseCriuEvidence(res.stdout) : 'no-log';
      const wait = parseFreezerWait(res.stdout);
      if (wait !== undefined) r.v.extra.criu_freezer_wait_ms = wait;
    },
  },

  restore: {
    mark: 'restored',
    script: (r) =>
      [
        `if ! out=$(${restoreImportCmd(r.dstTar)} 2>&1); then echo ${RESTORE_FAILED}; echo "$out"; exit 3; fi`,
        'id=$(echo "$out" | tail -n 1)',
        'echo "id $id"',
      ].join('\n'),
    read(r, o) {
      r.v.id = o.values.id ?? '';
      const ms = maybeMs(o, 'restore_start', 'restored');
      if (ms !== undefined) r.v.extra.podman_restore_ms = round3(ms);
    },
    async failed(r, res) {
      const f = parseRestoreFailure(res);
      if (!f)
        return new StepFailure(
          'restore',
          `[${r.target}] restore step failed (exit ${res.code}): ${tail(res.stderr || res.stdout, 8)}`,
          { host: r.target, code: res.code },
        );
      const criuLog = f.logPath ? (await r.dst.exec(sh`cat ${f.logPath}`, { quiet: true, allowFail: true })).stdout : '';
      return new RestoreFailure(r.target, diagnoseRestore(criuLog, f.podmanOutput), {
        podmanOutput: f.podmanOutput,
        criuLog,
        criuLogPath: f.logPath,
      });
    },
  },

  networkFixup: {
    mark: 'network',
    script: (r) =>
      [
        'set -e',
        'pid=$(cat "/var/lib/containers/storage/overlay-containers/$id/userdata/pidfile" 2>/dev/null || true)',
        sh`case "$pid" in ''|*[!0-9]*) pid=$(podman inspect --format '{{.State.Pid}}' ${r.c.SERVER_CONTAINER});; esac`,
        pidGuard(r.c.SERVER_CONTAINER),
        'echo "pid $pid"',
        containerNetScript(r.c, r.dstNode, PID_VAR),
      ].join('\n'),
    read(r, o) {
      r.v.pid = Number(o.values.pid ?? 0);
      for (const l of o.lines.filter((x) => x.startsWith('eth0 '))) r.say(l);
      if (o.lines.includes(ARPING_MISSING) && !arpingWarned.has(`${r.ctx.dir}:${r.target}`)) {
        arpingWarned.add(`${r.ctx.dir}:${r.target}`);
        r.ctx.log.warn(
          `[${r.target}] ${ARPING_MISSING}: no gratuitous ARP after the restore (third parties' ARP caches are not refreshed)`,
        );
      }
      const ms = maybeMs(o, 'restored', 'network');
      if (ms !== undefined) r.v.extra.network_fixup_ms = round3(ms);
    },
    async failed(r, res, o) {
      return (
        noServer(r, r.target, 'networkFixup', o) ??
        new StepFailure(
          'networkFixup',
          `[${r.target}] after the restore, network fix-up failed (exit ${res.code}): ${tail(res.stderr || res.stdout, 8)}`,
          { host: r.target, code: res.code },
        )
      );
    },
  },

  resume: { mark: 'resumed', script: (r) => resumeCommand(r.c) },

  switchUpdate: {
    async run(r) {
      const body = { ipv4: r.c.H2_IP, sw_port: r.dstNode.swPort, dst_mac: r.c.H2_MAC };
      const from = switchUpdateFrom(r.c);
      const sw =
        from === 'source'
          ? await postFromHost(r.src, netToolPath(r.c, r.source), r.c, '/updateForward', body)
          : await controllerFor(r.ctx).call('POST', '/updateForward', body);
      r.v.switchMs = sw.ms;
      r.v.extra.switch_update_from = from === 'source' ? r.source : 'control';
      r.say(
        `switch updated to port ${r.dstNode.swPort} from ${from === 'source' ? r.source : 'this machine'} (${sw.ms.toFixed(1)} ms); time to ready ${(Number(nowNs() - r.m.start!) / 1e6).toFixed(0)} ms`,
      );
    },
  },

  postSwitch: {
    async run(r) {
      const c = r.c;
      // best effort (an empty cache flushes fine), but a failure is reported
      const warnFlush = (where: string) => (x: { stdout: string; stderr: string; code: number }) => {
        const failed =
          x.code !== 0
            ? `exit ${x.code}: ${tail(x.stderr, 3)}`
            : x.stdout
                .split('\n')
                .find((l) => l.startsWith(FLUSH_FAILED))
                ?.slice(FLUSH_FAILED.length);
        if (failed) r.ctx.log.warn(`${r.tag}: ip tcp_metrics flush on ${where} failed: ${failed.trim()}`);
      };
      const evidence = r.v.id ? `${criuEvidenceCmd(`${userdataDir(quote(r.v.id))}/restore.log`)}\n` : '';
      await Promise.all([
        r.dst.exec(`${evidence}${inNetns(r.v.pid, FLUSH_TCP_METRICS)}`, { quiet: true, allowFail: true }).then((x) => {
          r.v.extra.criu_config_restore = r.v.id ? parseCriuEvidence(x.stdout) : 'no-log';
          warnFlush(`the container on ${r.target}`)(x);
        }),
        r.ctx
          .host('lakewood')
          .exec(
            [
              FLUSH_TCP_METRICS,
              sh`ip neigh replace ${c.H2_IP} lladdr ${c.H2_MAC.toLowerCase()} dev ${c.MACSHIM_IF} nud permanent`,
            ].join('\n'),
            { quiet: true },
          )
          .then(warnFlush('lakewood')),
        r.ctx.dryRun ? Promise.resolve() : markCollector(r),
      ]);
    },
  },
};

const round3 = (x: number) => Math.round(x * 1000) / 1000;

/** Tell the collector a migration happened: its mark file (workload phase state) or SIGUSR1. */
export async function markCollector(r: Pick<MigrationRun, 'ctx'>): Promise<void> {
  const w = (r.ctx.state.get('workload') ?? {}) as { markFile?: unknown; collectorPid?: unknown };
  if (typeof w.markFile === 'string' && w.markFile) {
    writeFileSync(w.markFile, `${Date.now()}\n`);
    return;
  }
  const pid = Number(w.collectorPid);
  if (Number.isInteger(pid) && pid > 1) {
    try {
      process.kill(pid, 'SIGUSR1');
      return;
    } catch (e) {
      r.ctx.log.warn(`collector mark: SIGUSR1 to pid ${pid} failed: ${(e as Error).message}`);
    }
  }
  r.ctx.log.warn(
    'collector mark: no collector mark file or PID in state.json (workload phase not run?); migration_event will not be set',
  );
}

async function corruptCheckpoint(host: Host, tar: string): Promise<void> {
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
