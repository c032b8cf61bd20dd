// The post-copy's last stretch (lazy engine, lazy.ts): after the switch update the target's
// lazy-pages daemon still fetches pages from the source's page server. This waits, bounded by
// LAZY_PAGES_TIMEOUT and saying how far it got every 2 s, until both have ended, and records when
// the last page arrived (lazy_pages_done_ms, from the migration's start like time_to_ready_ms).
//
// A daemon that failed (or was ended at the bound) leaves the restored process with pages that never
// came: once its userfaultfd is closed the kernel fills such pages with zeros on the next touch, so
// that process must not serve on. The target's container is stopped and the failure reported as a
// LazyPagesFailure; recovery does not restore the source's dump by itself: the connections have moved
// on since the switch, and restoring them as they were at the checkpoint would not bring them back.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { quote, sh } from '../hosts/quote.ts';
import { diagnoseRestore } from './diagnosis.ts';
import { LazyPagesFailure } from './errors.ts';
import { endHelpers, helperFiles, pageServerPort, resumedAt } from './lazy-procs.ts';
import { imagesDir } from './runc.ts';
import { parseScriptOutput } from './scripts.ts';
import type { MigrationRun } from './steps.ts';

/** `pages GOT/TOTAL` summed over the restored tasks, from a lazy-pages log (CRIU prints one line a task). */
const pagesOf = (log: string) =>
  `sed -n 's/.*UFFD transferred pages: (\\([0-9]*\\)\\/\\([0-9]*\\)).*/\\1 \\2/p' ${quote(log)} 2>/dev/null | awk '{ a += $1; b += $2 } END { print "pages " a + 0 "/" b + 0 }'`;

/** Waits up to ~2 s on the target; prints `done CODE NS` and `pages GOT/TOTAL`, or `rss KB|gone`. */
function probeScript(r: MigrationRun): string {
  const lp = helperFiles(r.dstDir, 'lazy-pages');
  return [
    sh`i=0; while [ ! -s ${lp.done} ] && [ $i -lt 400 ]; do sleep 0.005; i=$((i+1)); done`,
    `${sh`if [ -s ${lp.done} ]; then echo "done $(cat ${lp.done})";`} ${pagesOf(lp.log)}`,
    `else echo "rss $(awk '/^VmRSS/ { print $2 }' /proc/${r.v.pid}/status 2>/dev/null || echo gone)"; fi`,
  ].join('\n');
}

export async function waitForPages(r: MigrationRun): Promise<void> {
  if (r.ctx.dryRun) {
    await r.dst.exec(probeScript(r), { quiet: true, allowFail: true });
    return;
  }
  const t0 = Date.now();
  let said = t0;
  let done: { code: number; ns: bigint } | undefined;
  let pages = '';
  while (!done) {
    const res = await r.dst.exec(probeScript(r), { quiet: true, allowFail: true, timeoutMs: 20_000 });
    const o = parseScriptOutput(res.stdout);
    const d = o.values.done?.match(/^(\d+) (\d+)$/);
    if (d) {
      done = { code: Number(d[1]), ns: BigInt(d[2]) };
      pages = o.values.pages ?? '';
      break;
    }
    const waited = Date.now() - t0;
    if (waited >= r.c.LAZY_PAGES_TIMEOUT) {
      throw await pagesFailed(r, `the last pages did not arrive within LAZY_PAGES_TIMEOUT ${r.c.LAZY_PAGES_TIMEOUT} ms`);
    }
    if (Date.now() - said >= 2000) {
      said = Date.now();
      const rss = o.values.rss;
      r.say(
        `waiting for the last memory pages from ${r.source} (${(waited / 1000).toFixed(0)} s of ${r.c.LAZY_PAGES_TIMEOUT / 1000} s): ` +
          `restored process ${rss === 'gone' ? 'is gone' : rss ? `holds ${(Number(rss) / 1024).toFixed(0)} MB` : 'unknown'}`,
      );
    }
  }
  // the page server ends when the daemon disconnects: a few ms later
  const ps = helperFiles(r.srcDir, 'page-server');
  const src = await r.src.exec(
    [
      sh`i=0; while [ ! -s ${ps.done} ] && [ $i -lt 2000 ]; do sleep 0.005; i=$((i+1)); done`,
      sh`if [ -s ${ps.done} ]; then echo "served $(cut -d' ' -f1 ${ps.done})"; else echo "served running"; fi`,
    ].join('\n'),
    { quiet: true, allowFail: true, timeoutMs: 30_000 },
  );
  const served = parseScriptOutput(src.stdout).values.served ?? 'unknown';
  const [got, total] = pages.split('/').map(Number);
  // the daemon's own count, against what the source left to fetch (a daemon that failed before its
  // first task wrote none: 0/0 is not complete)
  const deferred = Number(r.v.extra.lazy_pages_deferred);
  const complete = Number.isFinite(got) && total > 0 && got === total && (!Number.isFinite(deferred) || total === deferred);
  if (done.code !== 0 && !complete)
    throw await pagesFailed(
      r,
      `criu lazy-pages on ${r.target} exited with ${done.code} after ${pages || 'an unknown number of'} pages`,
    );
  if (done.code !== 0 || served !== '0')
    r.ctx.log.warn(
      `${r.tag}: every page arrived (${pages}), but criu lazy-pages on ${r.target} exited with ${done.code} and the page server on ${r.source} with ${served}`,
    );
  await endHelpers(r); // both ended: only drops them from the cleanup (a reused PID is left alone)
  const resumed = resumedAt.get(r.v);
  if (resumed !== undefined && r.m.restoreDone !== undefined && r.m.start !== undefined) {
    const after = Number(done.ns - resumed) / 1e6;
    r.v.extra.lazy_pages_after_resume_ms = Math.round(after * 1000) / 1000;
    r.v.extra.lazy_pages_done_ms = Math.round((Number(r.m.restoreDone - r.m.start) / 1e6 + after) * 1000) / 1000;
  }
  r.v.extra.lazy_pages_transferred = pages || 'unknown';
  r.say(
    `last page arrived ${r.v.extra.lazy_pages_after_resume_ms ?? '?'} ms after the resume (${pages} pages fetched by the lazy-pages daemon)`,
  );
}

/** What is left on both ends after the pages stopped coming: diagnosis file, target stopped, the error. */
async function pagesFailed(r: MigrationRun, why: string): Promise<LazyPagesFailure> {
  const lp = helperFiles(r.dstDir, 'lazy-pages');
  const ps = helperFiles(r.srcDir, 'page-server');
  await endHelpers(r);
  const [dst, src] = await Promise.all([
    r.dst.exec(
      [
        `if kill -0 ${r.v.pid} 2>/dev/null; then echo "alive yes"; else echo "alive no"; fi`,
        sh`grep -a 'Error' ${lp.log} 2>/dev/null | tail -n 20`,
        pagesOf(lp.log),
      ].join('\n'),
      { quiet: true, allowFail: true, timeoutMs: 15_000 },
    ),
    r.src.exec(
      [
        sh`if ls ${imagesDir(r.srcDir)}/pages-*.img >/dev/null 2>&1; then echo "images yes"; else echo "images no"; fi`,
        sh`grep -a 'Error' ${ps.log} 2>/dev/null | tail -n 10`,
      ].join('\n'),
      { quiet: true, allowFail: true, timeoutMs: 15_000 },
    ),
  ]);
  const d = parseScriptOutput(dst.stdout);
  const s = parseScriptOutput(src.stdout);
  const targetAlive = d.values.alive === 'yes';
  const sourceImages = s.values.images === 'yes';
  const logs = [dst.stdout, src.stdout].join('\n');
  const diagnosis = diagnoseRestore(logs, why);
  if (targetAlive) {
    // its missing pages would read as zeros from now on
    await r.dst.exec(sh`podman kill ${r.c.SERVER_CONTAINER} >/dev/null 2>&1 || kill -KILL ${r.v.pid}`, {
      quiet: true,
      allowFail: true,
      timeoutMs: 30_000,
    });
  }
  r.ctx.state.set('serverHost', 'none');
  const full = `${r.source}:${imagesDir(r.srcDir)}`;
  const recovery = [
    `The server on ${r.target} ${targetAlive ? 'was stopped: its memory is incomplete' : 'is dead'} (${d.values.pages ?? 'unknown'} pages arrived).`,
    sourceImages
      ? `The full dump is still on ${full} (taken at the checkpoint, before the switch): restoring it brings the service back as it was then, but connections that exchanged data after the switch will not survive; not done automatically.`
      : `The source's pages are gone too (no pages-*.img in ${full}): the server's state is lost; start it anew (build phase).`,
  ].join(' ');
  const text = [
    `migration ${r.index}: memory pages stopped arriving on ${r.target} after the switch (MIGRATION_ENGINE=lazy)`,
    `why: ${why}`,
    `cause: ${diagnosis.cause}`,
    `diagnosis: ${diagnosis.summary}`,
    `what to do: ${diagnosis.hint}`,
    `page server: ${r.source} ${r.srcNode.directIp}:${pageServerPort(r)}, log ${ps.log}; lazy-pages daemon log ${r.target}:${lp.log}`,
    `state: ${recovery}`,
    '',
    'CRIU errors:',
    ...diagnosis.errors.slice(0, 20).map((e) => `  ${e}`),
  ].join('\n');
  const file = join(r.ctx.dir, `migration_${r.index}_lazy_diagnosis.txt`);
  mkdirSync(r.ctx.dir, { recursive: true });
  writeFileSync(file, `${text}\n`);
  r.ctx.log.error(`${r.tag}: ${why} — ${diagnosis.summary}`);
  return new LazyPagesFailure(`${why}: ${diagnosis.summary} (diagnosis: ${file})`, { targetAlive, sourceImages, recovery }, file);
}
