// The published procedure with podman: each step's host commands and what it reads back. Source
// script: quiesce (SIGUSR2 to the server), drain, `podman container checkpoint --export`, then the
// transfer listener detached (bounded by `timeout`) so the target can pull at once. Target script:
// `podman container restore --import`, network fix-up in the container's netns, resume.
import { loadgenHost } from './schedule.ts';
import { writeFileSync } from 'node:fs';
import { quote, sh } from '../hosts/quote.ts';
import { tail } from '../run/text.ts';
import { ARPING_MISSING, containerNetScript, drainScript, inNetns, PID_VAR } from '../server/net.ts';
import { netToolPath } from '../nettool/index.ts';
import { workloadFor } from '../../experiments/workloads/index.ts';
import { controllerFor, postFromHost, switchUpdateFrom } from '../switch/controller-client.ts';
import { criuEvidenceCmd, parseCriuEvidence, userdataDir, writeCriuConfigCmd } from './criu.ts';
import { diagnoseRestore } from './diagnosis.ts';
import { parseRestoreFailure, RESTORE_FAILED, RestoreFailure, StepFailure } from './errors.ts';
import { criuFreezerWaitCmd, freezeScript, parseFreezerWait, THAW } from './freezer.ts';
import {
  checkpointExportCmd,
  corruptCheckpoint,
  FLUSH_FAILED,
  FLUSH_TCP_METRICS,
  noServer,
  pidGuard,
  pidLookup,
  pullScript,
  quiesceCommand,
  restoreImportCmd,
  dropRestoredImagesCmd,
  resumeCommand,
} from './podman-scripts.ts';
import { mark, maybeMs, nsOfMs, parseScriptOutput } from './scripts.ts';
import type { Engine, MigrationRun } from './steps.ts';
import { nowNs } from './timing.ts';
import { serveCommand } from './transfer.ts';

// The engine's commands, importable from the engine's module as before they moved.
export {
  checkpointExportCmd,
  dropRestoredImagesCmd,
  pidGuard,
  quiesceCommand,
  restoreImportCmd,
  resumeCommand,
} from './podman-scripts.ts';

/**
 * Test hook, documented in the README: P4CF_TEST_CORRUPT_CHECKPOINT=1 damages the TCP images
 * inside the checkpoint on the target after the transfer was verified, so the restore fails
 * the way a damaged checkpoint would (used by test/e2e.test.ts to exercise the recovery path).
 */
export const CORRUPT_HOOK = 'P4CF_TEST_CORRUPT_CHECKPOINT';

// One warning per run and host: a missing arping does not change between migrations.
const arpingWarned = new Set<string>();

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
    read: (r, o) => readFrozenCheckpoint(r, o, 'podman_checkpoint_ms'),
  },

  transfer: {
    offer: {
      mark: 'serving',
      // detached listener: output to /dev/null so this SSH command returns at once
      script: (r) =>
        [
          sh`echo "size $(stat -c %s ${r.srcTar})"`,
          `setsid timeout 120 ${serveCommand(r.method, r.srcTar, r.srcNode.directIp, r.port, netToolPath(r.c, r.source))} >/dev/null 2>&1 </dev/null &`,
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
        const link = `over the direct link ${r.source} ${r.srcNode.directIf} ${r.srcNode.directIp}:${r.port} → ${r.target} ${r.dstNode.directIf} (${r.method})`;
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
      // the restore's CRIU log first, then the images --keep left beside it go (see restoreImportCmd)
      const evidence = r.v.id
        ? `${criuEvidenceCmd(`${userdataDir(quote(r.v.id))}/restore.log`)}\n${dropRestoredImagesCmd(quote(r.v.id))}\n`
        : '';
      await Promise.all([
        r.dst.exec(`${evidence}${inNetns(r.v.pid, FLUSH_TCP_METRICS)}`, { quiet: true, allowFail: true }).then((x) => {
          r.v.extra.criu_config_restore = r.v.id ? parseCriuEvidence(x.stdout) : 'no-log';
          warnFlush(`the container on ${r.target}`)(x);
        }),
        r.ctx
          .host(loadgenHost(c))
          .exec(
            [
              FLUSH_TCP_METRICS,
              sh`ip neigh replace ${c.H2_IP} lladdr ${c.H2_MAC.toLowerCase()} dev ${c.MACSHIM_IF} nud permanent`,
            ].join('\n'),
            { quiet: true },
          )
          .then(warnFlush(loadgenHost(c))),
        r.ctx.dryRun ? Promise.resolve() : markCollector(r),
      ]);
    },
  },
};

export const round3 = (x: number) => Math.round(x * 1000) / 1000;

/**
 * The checkpoint leg of an engine that freezes the cgroup first (mark `frozen`, then `checkpointed`):
 * its orchestrator-clock end (the leg returned after the transfer offer, `serving`), the freeze and
 * the dump under `dumpKey`.
 */
export function readFrozenCheckpoint(r: MigrationRun, o: ReturnType<typeof parseScriptOutput>, dumpKey: string): void {
  r.m.checkpointDone = r.legEndNs - nsOfMs(maybeMs(o, 'checkpointed', 'serving') ?? 0);
  if (r.m.drained! > r.m.checkpointDone) r.m.drained = r.m.checkpointDone;
  if (r.m.quiesced! > r.m.drained!) r.m.quiesced = r.m.drained;
  const fz = maybeMs(o, 'drained', 'frozen');
  if (fz !== undefined) r.v.extra.freeze_ms = round3(fz);
  const ck = maybeMs(o, 'frozen', 'checkpointed');
  if (ck !== undefined) r.v.extra[dumpKey] = round3(ck);
  r.v.extra.freeze = o.values.freeze ?? 'n/a';
}

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
