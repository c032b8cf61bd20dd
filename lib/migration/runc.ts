// MIGRATION_ENGINE=runc: the podman engine's steps, except that the dump and the data path skip
// podman's export/import. Source: quiesce, drain, freeze the cgroup (freezer.ts), `runc checkpoint`
// of the paused container with its images written to a folder (no tar file); the transfer streams
// that folder over the direct link (tar | socat, nothing stored on the way); the target puts the
// images where podman keeps a container's own checkpoint and `podman container restore` (no
// --import) has runc restore it into a network namespace podman creates on the target. The
// container stays podman-managed throughout (name, network, `podman ps`): the restore is of the
// same container record, which is why this engine needs a podman storage that both servers see
// (the local testbed's); on separate hosts the target has no record of the container, and podman
// 4.3 restores only an exported archive into a new record (prepareTarget says so).
import { quote, sh } from '../hosts/quote.ts';
import { tail } from '../run/text.ts';
import { PID_VAR } from '../server/net.ts';
import { criuEvidenceCmd, parseCriuEvidence, userdataDir, writeCriuConfigCmd } from './criu.ts';
import { RESTORE_FAILED, StepFailure } from './errors.ts';
import { criuFreezerWaitCmd, freezeScript, parseFreezerWait, THAW } from './freezer.ts';
import { podmanEngine, readFrozenCheckpoint, round3 } from './podman.ts';
import { mark, maybeMs, parseScriptOutput } from './scripts.ts';
import type { Engine, MigrationRun } from './steps.ts';
import { nowNs } from './timing.ts';

/** podman's runc state folder (the runtime root podman passes to runc). */
export const RUNC_ROOT = '/run/runc';
/** Where conmon writes a container's exit code (podman's tmpdir /run/libpod, as root). */
const EXITS_DIR = '/run/libpod/exits';
export const imagesDir = (dir: string) => `${dir}/images`;
/** Bytes of every file under a folder (the transfer's completeness check, both ends). */
export const bytesOf = (dir: string) => `find ${quote(dir)} -type f -printf '%s\\n' | awk '{ s += $1 } END { print s + 0 }'`;

/** Container id on the restoring host: the recorded one (same record in shared storage), else podman's. */
export function idLookup(r: MigrationRun): string {
  return r.known ? `cid=${quote(r.known.id)}` : sh`cid=$(podman inspect --format '{{.Id}}' ${r.c.SERVER_CONTAINER})`;
}

export const runcEngine: Engine = {
  ...podmanEngine,
  name: 'runc',
  sameRecord: true,

  prepareTarget: {
    async run(r) {
      await podmanEngine.prepareTarget.run(r);
      const has = await r.dst.exec(sh`podman container exists ${r.c.SERVER_CONTAINER}`, { quiet: true, allowFail: true });
      if (has.code !== 0 && !r.ctx.dryRun) {
        throw new StepFailure(
          'prepareTarget',
          `[${r.target}] MIGRATION_ENGINE=runc restores the container record podman keeps for ` +
            `${r.c.SERVER_CONTAINER}, but podman on ${r.target} has none (its storage is not shared with ${r.source}); ` +
            'podman 4.3 restores into a new record only from an exported archive: use MIGRATION_ENGINE=podman here',
        );
      }
    },
  },

  checkpoint: {
    mark: 'checkpointed',
    script: (r) =>
      [
        writeCriuConfigCmd(),
        sh`rm -rf ${imagesDir(r.srcDir)} ${`${r.srcDir}/work`}`,
        sh`cid=$(sed -n 's/.*libpod-\\([0-9a-f]\\{64\\}\\).*/\\1/p' /proc/$pid/cgroup | head -n 1)`,
        '[ -n "$cid" ] || { echo "no container id in /proc/$pid/cgroup" >&2; exit 1; }',
        `rm -f ${EXITS_DIR}/"$cid"`, // a stale one (an earlier exit of this record) would end removeSource's wait too early
        freezeScript(PID_VAR),
        mark('frozen'),
        // runc reads the container's org.criu.config annotation itself (criu.ts)
        `if ! runc --root ${RUNC_ROOT} checkpoint --image-path ${quote(imagesDir(r.srcDir))} --work-path ${quote(`${r.srcDir}/work`)} ` +
          `--tcp-established "$cid"; then ${THAW}; tail -n 5 ${quote(`${r.srcDir}/work`)}/dump.log >&2 || true; exit 1; fi`,
        'echo checkpointed',
      ].join('\n'),
    read: (r, o) => readFrozenCheckpoint(r, o, 'runc_checkpoint_ms'),
  },

  transfer: {
    offer: {
      mark: 'serving',
      script: (r) =>
        [
          `echo "size $(${bytesOf(imagesDir(r.srcDir))})"`,
          `setsid timeout 120 sh -c ${quote(sh`tar -C ${imagesDir(r.srcDir)} -cf - . | socat -u STDIN ${`TCP-LISTEN:${r.port},bind=${r.srcNode.directIp},reuseaddr`}`)} >/dev/null 2>&1 </dev/null &`,
        ].join('\n'),
      read(r, o) {
        r.v.size = Number(o.values.size ?? 0);
        r.say(
          `runc checkpoint done in ${(Number(r.m.checkpointDone! - r.m.start!) / 1e6).toFixed(0)} ms (drain: ${o.values.drain || 'n/a'}, ${r.v.size} bytes of images)`,
        );
      },
    },
    pull: {
      async run(r) {
        const dir = imagesDir(r.dstDir);
        const script = [
          'set -e',
          sh`rm -rf ${dir} && mkdir -p ${dir}`,
          mark('pull_start'),
          sh`socat -u ${`TCP:${r.srcNode.directIp}:${r.port},retry=500,interval=0.02`} STDOUT | tar -C ${dir} -xf -`,
          mark('pulled'),
          `echo "size $(${bytesOf(dir)})"`,
        ].join('\n');
        const res = await r.dst.exec(script, { quiet: true, allowFail: true, timeoutMs: 120_000 });
        r.m.transferEnd = nowNs();
        if (res.code !== 0) {
          throw new StepFailure(
            'transfer',
            `image stream ${r.source} ${r.srcNode.directIp}:${r.port} → ${r.target}:${dir} failed (exit ${res.code}): ${tail(res.stderr, 8)}`,
            { host: r.target, code: res.code, stderr: res.stderr },
          );
        }
        const got = Number(parseScriptOutput(res.stdout).values.size ?? -1);
        if (!r.c.CR_SKIP_VERIFY && !r.ctx.dryRun && got !== r.v.size) {
          throw new StepFailure(
            'transfer',
            `image stream incomplete: ${r.source}:${imagesDir(r.srcDir)} holds ${r.v.size} bytes, ${r.target}:${dir} ${got} (CR_SKIP_VERIFY=true skips this check)`,
          );
        }
      },
    },
  },

  // The same record is restored (shared storage): never remove it. podman restores only an exited
  // container, and conmon reports the exit a moment after runc's dump killed the process.
  removeSource: {
    async run(r) {
      r.m.sourceStopStart = nowNs();
      // conmon writes the exit file the moment the process is gone (podman's state follows from it):
      // polling for it costs ~2 ms a look where a `podman inspect` costs ~50 ms
      const res = await r.src.exec(
        [
          criuEvidenceCmd(quote(`${r.srcDir}/work/dump.log`)),
          criuFreezerWaitCmd(quote(`${r.srcDir}/work/dump.log`)),
          idLookup(r),
          `ex=${EXITS_DIR}/$cid`,
          // podman's cleanup (conmon's exit command) consumes the exit file a few hundred ms after the
          // exit: a look that comes later (the lazy engine's copy runs first) finds runc's state gone instead
          `if [ -d ${EXITS_DIR} ]; then i=0; while [ ! -e "$ex" ] && [ -d ${RUNC_ROOT}/"$cid" ] && [ $i -lt 1500 ]; do sleep 0.002; i=$((i+1)); done`,
          `  if [ -e "$ex" ]; then s="exited (exit file)"; elif [ ! -d ${RUNC_ROOT}/"$cid" ]; then s="exited (runc state gone)"; else s="no exit file after 3 s"; fi`,
          'else i=0; while [ $i -lt 300 ]; do',
          sh`  s=$(podman inspect --format '{{.State.Status}}' ${r.c.SERVER_CONTAINER} 2>/dev/null) || s=gone`,
          '  case "$s" in exited|stopped|gone) break;; esac; sleep 0.01; i=$((i+1)); done',
          'fi; echo "state $s"',
        ].join('\n'),
        { quiet: true },
      );
      r.m.sourceStopDone = nowNs();
      r.v.extra.source_state = parseScriptOutput(res.stdout).values.state ?? 'unknown';
      r.v.extra.criu_config_dump = parseCriuEvidence(res.stdout); // runc leaves CRIU's dump.log in its work folder
      const wait = parseFreezerWait(res.stdout);
      if (wait !== undefined) r.v.extra.criu_freezer_wait_ms = wait;
    },
  },

  restore: {
    mark: 'restored',
    script: (r) =>
      [
        idLookup(r),
        `ck=${userdataDir('"$cid"')}/checkpoint`,
        sh`rm -rf "$ck" && mv ${imagesDir(r.dstDir)} "$ck"`,
        mark('images_placed'),
        sh`if ! out=$(podman container restore --keep --tcp-established --ignore-static-mac ${r.c.SERVER_CONTAINER} 2>&1); then echo ${RESTORE_FAILED}; echo "$out"; exit 3; fi`,
        'id=$cid',
        'echo "id $id"',
      ].join('\n'),
    read(r, o) {
      r.v.id = o.values.id ?? '';
      const ms = maybeMs(o, 'images_placed', 'restored');
      if (ms !== undefined) r.v.extra.podman_restore_ms = round3(ms);
    },
    failed: podmanEngine.restore.failed,
  },

  // after the switch update (outside the downtime): the restored container is podman's again
  postSwitch: {
    async run(r) {
      const [ps] = await Promise.all([
        r.dst.exec(sh`podman ps --filter ${`name=^${r.c.SERVER_CONTAINER}$`} --format '{{.Status}}'`, {
          quiet: true,
          allowFail: true,
        }),
        podmanEngine.postSwitch.run(r),
      ]);
      r.v.extra.podman_ps_after = ps.stdout.trim() || `absent (exit ${ps.code})`;
      if (!r.ctx.dryRun && !/^Up\b/.test(String(r.v.extra.podman_ps_after))) {
        r.ctx.log.warn(
          `${r.tag}: podman ps on ${r.target} shows ${r.c.SERVER_CONTAINER} as '${r.v.extra.podman_ps_after}', not Up`,
        );
      }
    },
  },
};
