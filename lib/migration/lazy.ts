// MIGRATION_ENGINE=lazy (post-copy): the runc engine's steps, except that the target restores before
// the memory has arrived. Source: the same frozen `runc checkpoint` (a full dump; the source process
// ends with it, so podman's record is free for the restore), then `p4cf-net lazy-strip-after`
// (started before the dump, waiting on a fifo) copies the images with only the pages the restore
// reads itself (stacks and other non-lazy memory, lazy-images.ts), tar -S streams that copy, and `criu page-server --lazy-pages` serves the rest
// from the full dump on the direct link. Target: `criu lazy-pages --page-server` (connects to the
// source's page server), then podman's restore of the same record with `lazy-pages` in the CRIU
// config file (runc lets that file override its own options; podman 4.3 has no flag for it): the
// process resumes at once and its missing pages arrive on first touch or in the background. The
// post-switch step waits (LAZY_PAGES_TIMEOUT, with progress) until the lazy-pages daemon and the page
// server have both ended; a failure there is a LazyPagesFailure (lazy-wait.ts).
//
// Why not `runc checkpoint --lazy-pages --page-server`: CRIU then holds the source process (frozen,
// its memory in pipes) until the last page is served, so podman's record stays "running" during the
// restore, and on the local testbed's shared podman storage and /run/runc the target cannot restore
// that record (nor another with the same id) before it exits. Serving the pages from a full dump
// instead costs the dump writing them locally (page cache), not the wire.
//
// On this machine CRIU's page server needs fs.pipe-max-size ≥ 3.2 MiB: it sizes its pipe with
// F_SETPIPE_SZ beyond the default 1 MiB limit, which root may only exceed with CAP_SYS_RESOURCE
// (missing here), ignores that failure, and then fails the first request larger than 64 KiB
// ("page-pipe: tee: 65536"). prepareTarget raises the limit on both servers when it is lower.
import { quote, sh } from '../hosts/quote.ts';
import { netToolPath } from '../nettool/index.ts';
import { tail } from '../run/text.ts';
import { userdataDir, writeCriuConfigCmd } from './criu.ts';
import { RESTORE_FAILED, RestoreFailure, StepFailure } from './errors.ts';
import { detached, endHelper, helperFiles, pageServerPort, resumedAt, track } from './lazy-procs.ts';
import { waitForPages } from './lazy-wait.ts';
import { podmanEngine, round3 } from './podman.ts';
import { bytesOf, idLookup, imagesDir, runcEngine } from './runc.ts';
import { diagnoseRestore } from './diagnosis.ts';
import { mark, maybeMs, parseScriptOutput } from './scripts.ts';
import type { Engine } from './steps.ts';

/**
 * Test hook, documented in the README: P4CF_TEST_LAZY_CUT=1 ends the source's page server right
 * after the switch update, while pages are still in flight (test/e2e-engines.test.ts).
 */
export const LAZY_CUT_HOOK = 'P4CF_TEST_LAZY_CUT';

/** CRIU's page server sizes its pipe to 819 pages (criu/include/page-pipe.h PIPE_MAX_SIZE). */
export const PIPE_MAX_SIZE_NEEDED = 819 * 4096;
const PIPE_SIZE_RAISED = 4 << 20;

/** The stripped images' folder on the source (what the target gets). */
export const strippedDir = (dir: string) => `${dir}/lazy`;
const pipeSizeCmd = `old=$(cat /proc/sys/fs/pipe-max-size); if [ "$old" -lt ${PIPE_MAX_SIZE_NEEDED} ]; then echo ${PIPE_SIZE_RAISED} > /proc/sys/fs/pipe-max-size && echo "pipe-max-size raised from $old"; fi`;

export const lazyEngine: Engine = {
  ...runcEngine,
  name: 'lazy',

  prepareTarget: {
    async run(r) {
      const hosts = [r.src, r.dst];
      const [, ...raised] = await Promise.all([
        runcEngine.prepareTarget.run(r),
        ...hosts.map((h) => h.exec(pipeSizeCmd, { quiet: true })),
      ]);
      raised.forEach((x, i) => {
        const from = Number(/pipe-max-size raised from (\d+)/.exec(x.stdout)?.[1]);
        if (!(from > 0)) return;
        const h = hosts[i];
        r.ctx.log.warn(
          `lazy engine: raised fs.pipe-max-size on ${h.name} from ${from} to ${PIPE_SIZE_RAISED} bytes (CRIU's page server needs ${PIPE_MAX_SIZE_NEEDED} without CAP_SYS_RESOURCE); the run's cleanup sets it back`,
        );
        // a kernel-wide setting: the run leaves it as it found it
        r.ctx.cleanup.add(`set fs.pipe-max-size on ${h.name} back to ${from}`, async () => {
          await h.exec(`echo ${from} > /proc/sys/fs/pipe-max-size`, { quiet: true, allowFail: true });
        });
      });
    },
  },

  // node's start (~100-150 ms on a busy machine) overlaps the dump: the copy starts waiting for `go`
  checkpoint: {
    ...runcEngine.checkpoint,
    script: (r) => {
      const go = `${r.srcDir}/lazy-strip.go`;
      return [
        sh`rm -f ${go} && mkfifo ${go}`,
        `${sh`node ${netToolPath(r.c, r.source)} lazy-strip-after ${imagesDir(r.srcDir)} ${strippedDir(r.srcDir)} <${go} >${`${r.srcDir}/lazy-strip.out`} 2>&1`} &`,
        'strip_pid=$!',
        // the write end: a failed dump exits this script, which closes it, and the copy gives up
        sh`exec 8>${go}`,
        runcEngine.checkpoint.script(r),
      ].join('\n');
    },
  },

  transfer: {
    offer: {
      mark: 'serving',
      script: (r) => {
        const ps = helperFiles(r.srcDir, 'page-server');
        return [
          sh`rm -f ${ps.ready} ${ps.done} ${ps.log}`,
          // first: it loads the full dump into its pipes while the copy is made and streamed
          detached(
            'pageserver',
            // two pipe fds per 3.2 MiB of the dump: the soft fd limit up to the hard one (no privilege needed)
            sh`ulimit -n "$(ulimit -Hn)" 2>/dev/null; criu page-server --lazy-pages -D ${imagesDir(r.srcDir)} --address ${r.srcNode.directIp} --port ${pageServerPort(r)} -o ${ps.log} --status-fd 3 3>${ps.ready}`,
            ps.done,
            r.c.LAZY_PAGES_TIMEOUT + 60_000,
          ),
          'echo go >&8; exec 8>&-',
          sh`if ! wait "$strip_pid"; then cat ${`${r.srcDir}/lazy-strip.out`} >&2; kill -TERM -"$pageserver_pid" 2>/dev/null; exit 1; fi; cat ${`${r.srcDir}/lazy-strip.out`}; rm -f ${`${r.srcDir}/lazy-strip.go`}`,
          mark('stripped'),
          `echo "size $(${bytesOf(strippedDir(r.srcDir))})"`,
          `setsid timeout 120 sh -c ${quote(sh`tar -C ${strippedDir(r.srcDir)} -S -cf - . | socat -u STDIN ${`TCP-LISTEN:${r.port},bind=${r.srcNode.directIp},reuseaddr`}`)} >/dev/null 2>&1 </dev/null &`,
        ].join('\n');
      },
      read(r, o) {
        r.v.size = Number(o.values.size ?? 0);
        track(r, r.src, Number(o.values.pageserver), 'lazy page server');
        const strip = o.values['lazy-strip'] ?? '';
        const n = (k: string) => Number(strip.match(new RegExp(`${k}=(\\d+)`))?.[1] ?? Number.NaN);
        if (Number.isFinite(n('pages'))) {
          r.v.extra.lazy_pages_total = n('pages');
          r.v.extra.lazy_pages_deferred = n('lazy');
          // the copy's length counts its holes; the stream (tar -S) carries only the rest
          r.v.extra.lazy_images_sent_bytes = r.v.size - n('lazy') * 4096;
        }
        const ms = maybeMs(o, 'checkpointed', 'stripped');
        if (ms !== undefined) r.v.extra.lazy_strip_ms = round3(ms);
        r.say(
          `runc checkpoint done in ${(Number(r.m.checkpointDone! - r.m.start!) / 1e6).toFixed(0)} ms; ${r.v.extra.lazy_images_sent_bytes ?? r.v.size} bytes of images go now, ` +
            `${r.v.extra.lazy_pages_deferred ?? '?'} of ${r.v.extra.lazy_pages_total ?? '?'} pages follow from ${r.source}'s page server`,
        );
      },
    },
    pull: {
      async run(r) {
        await runcEngine.transfer.pull.run(r);
      },
    },
  },

  // runc's wait for the source's exit, and the page server's readiness byte: the target's
  // lazy-pages daemon connects to it once, without retrying, right after the restore starts
  removeSource: {
    async run(r) {
      const ps = helperFiles(r.srcDir, 'page-server');
      const [, res] = await Promise.all([
        runcEngine.removeSource.run(r),
        r.src.exec(
          [
            sh`i=0; while [ ! -s ${ps.ready} ] && [ ! -e ${ps.done} ] && [ $i -lt 3000 ]; do sleep 0.005; i=$((i+1)); done`,
            sh`if [ -s ${ps.ready} ]; then echo "pageserver ready"; elif [ -e ${ps.done} ]; then echo "pageserver exited $(cut -d' ' -f1 ${ps.done})"; tail -n 5 ${ps.log} 2>/dev/null; else echo "pageserver silent"; fi`,
          ].join('\n'),
          { quiet: true, allowFail: true, timeoutMs: 30_000 },
        ),
      ]);
      const state = parseScriptOutput(res.stdout).values.pageserver ?? '';
      if (state !== 'ready' && !r.ctx.dryRun)
        throw new StepFailure(
          'removeSource',
          `[${r.source}] criu page-server --lazy-pages on ${r.srcNode.directIp}:${pageServerPort(r)} is not serving (${state || 'no answer'}): ${tail(res.stdout, 5)}`,
          { host: r.source },
        );
    },
  },

  restore: {
    mark: 'restored',
    script(r) {
      // recovery restores on the source from its full dump: a plain runc-engine restore
      if (r.target === r.source) return runcEngine.restore.script(r);
      const lp = helperFiles(r.dstDir, 'lazy-pages');
      return [
        idLookup(r),
        `ud=${userdataDir('"$cid"')}`,
        'ck="$ud/checkpoint"',
        sh`rm -rf "$ck" && mv ${imagesDir(r.dstDir)} "$ck"`,
        sh`rm -f "$ud/lazy-pages.socket" ${lp.done} ${lp.log}`,
        // the restore (CRIU's work dir is podman's userdata folder) finds the daemon's socket there
        detached(
          'lazydaemon',
          sh`criu lazy-pages --page-server --address ${r.srcNode.directIp} --port ${pageServerPort(r)} -D "$CK" -W "$UD" -o ${lp.log} -v4`,
          lp.done,
          r.c.LAZY_PAGES_TIMEOUT + 30_000,
          'CK="$ck" UD="$ud" ',
        ),
        sh`i=0; while [ ! -S "$ud/lazy-pages.socket" ] && [ ! -e ${lp.done} ] && [ $i -lt 2500 ]; do sleep 0.002; i=$((i+1)); done`,
        // a failed restore ends the daemon here (only a restore that returned hands it to the run)
        sh`if [ ! -S "$ud/lazy-pages.socket" ]; then echo ${RESTORE_FAILED}; echo "criu lazy-pages daemon did not start: $(tail -n 3 ${lp.log} 2>/dev/null)"; kill -TERM -"$lazydaemon_pid" 2>/dev/null; exit 3; fi`,
        writeCriuConfigCmd(['lazy-pages']),
        mark('images_placed'),
        sh`out=$(podman container restore --keep --tcp-established --ignore-static-mac ${r.c.SERVER_CONTAINER} 2>&1); rc=$?`,
        writeCriuConfigCmd(), // the next dump (from here) is a plain one
        `if [ $rc -ne 0 ]; then kill -TERM -"$lazydaemon_pid" 2>/dev/null; echo ${RESTORE_FAILED}; echo "$out"; tail -n 20 ${quote(lp.log)} 2>/dev/null | sed 's/^/lazy-pages: /'; exit 3; fi`,
        'id=$cid',
        'echo "id $id"',
      ].join('\n');
    },
    read(r, o) {
      runcEngine.restore.read?.(r, o);
      if (r.target === r.source) return;
      track(r, r.dst, Number(o.values.lazydaemon), 'lazy-pages daemon');
      if (o.marks.resumed !== undefined) resumedAt.set(r.v, o.marks.resumed);
    },
    async failed(r, res, o) {
      const f = await podmanEngine.restore.failed!(r, res, o);
      if (!(f instanceof RestoreFailure) || r.target === r.source) return f;
      // the daemon's own errors say more about a lazy restore than podman's
      const lazyLog = res.stdout
        .split('\n')
        .filter((l) => l.startsWith('lazy-pages: '))
        .map((l) => l.slice(12))
        .join('\n');
      const criuLog = [f.evidence.criuLog, lazyLog].filter(Boolean).join('\n');
      return new RestoreFailure(r.target, diagnoseRestore(criuLog, f.evidence.podmanOutput), { ...f.evidence, criuLog });
    },
  },

  // after the switch update: the last pages, then runc's post-switch (which empties the folder the
  // lazy-pages daemon reads its images from, so it must come second)
  postSwitch: {
    async run(r) {
      if (process.env[LAZY_CUT_HOOK] === '1') {
        const ps = r.v.daemons?.find((d) => d.what === 'lazy page server');
        r.ctx.log.warn(`${LAZY_CUT_HOOK}=1: ending the page server on ${r.source} while pages are in flight (test hook)`);
        if (ps) await endHelper(ps.host, ps.pid);
      }
      await waitForPages(r);
      await runcEngine.postSwitch.run(r);
    },
  },
};
