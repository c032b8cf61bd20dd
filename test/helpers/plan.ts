// Normalising a dry-run plan so two plans (or a plan and its snapshot) compare independent of the
// machine and of timing. Shared by test/dryrun-plan.test.ts and test/emulate-hw.test.ts.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const HOSTS = ['tofino', 'lakewood', 'loveland', 'local'];
export const hostOf = (l: string) => /^\[(tofino|lakewood|loveland|local)\]/.exec(l)?.[1] ?? '~';

/**
 * Make the plan independent of this machine and of timing: repository path, measured durations,
 * the orchestrator's PID in temporary names; hosts run in parallel within a phase, so lines are
 * grouped per host (order within a host is kept) in each phase, migration and the final undos.
 */
export function normalisePlan(out: string): string {
  const lines = out
    .split('\n')
    .filter((l) => !/^npm (warn|notice)/.test(l))
    .map((l) =>
      l
        .replaceAll(repo, '<repo>')
        .replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z?/g, '<time>')
        // measured durations only; configured ones (rto_min 5ms, waits, intervals) stay
        .replace(/\b(in|ready) \d+(\.\d+)? ms\b/g, '$1 <n> ms')
        .replace(/\(\d+(\.\d+)? ms\)/g, '(<n> ms)')
        .replace(/(p4cf-image-.*?)-\d+\.tar/g, '$1-<orchestrator pid>.tar'),
    );
  // a section per phase, per migration and for the end-of-run undos
  const isHead = (l: string) =>
    l.startsWith('===') || l.startsWith('cleanup (') || /^\[migrate\] migration \d+ \S+: dry run: /.test(l);
  const sections: string[][] = [[]];
  for (const l of lines) {
    if (isHead(l)) sections.push([l]);
    else sections[sections.length - 1].push(l);
  }
  return (
    sections
      .map(([head, ...rest]) => {
        if (head === undefined || !isHead(head)) return [head, ...rest].filter((l) => l !== undefined).join('\n');
        const order = [...HOSTS, '~'];
        const sorted = rest
          .map((l, i) => ({ l, i, h: order.indexOf(hostOf(l)) }))
          .sort((a, b) => a.h - b.h || a.i - b.i)
          .map((x) => x.l);
        return [head, ...sorted].join('\n');
      })
      .join('\n')
      .trim() + '\n'
  );
}
