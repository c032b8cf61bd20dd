// Benchmark: the orchestration's own time against the number of servers (issue 15). One full
// experiment (experiments/run.ts, MIGRATION_SCHEDULE=round-robin, one migration, short waits) per
// server count on the local testbed, and each phase's duration side by side, so a phase whose time
// grows with the hosts it touches shows it (preflight, sync, images, clean and collect work on all
// hosts at once; the local testbed's clean is sequential: its servers share one podman storage).
// The testbed phase of a larger count only adds the new servers to the one the smaller made.
// Uses a testbed prefix of its own (p4sb-, management 10.198.8.0/24) and a temporary results
// folder; holds the machine-wide testbed lock (/tmp/p4cf-testbed.lock) and takes its testbed down
// at the end. Root only.
//   npx tsx bench/servers.ts [--counts 2,4,8]
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { cliArgs } from '../lib/run/cli.ts';
import { asRootUnderTestbedLock } from './lib/exclusive.ts';
import { PHASE_ORDER } from '../lib/run/phases.ts';

const root = resolve(import.meta.dirname, '..');
const tsx = join(root, 'node_modules', 'tsx', 'dist', 'cli.mjs');
const NAMES = ['lakewood', 'loveland', 'boulder', 'denver', 'golden', 'aspen', 'vail', 'estes'];
// the phases a short run times (steady, post and analyze are waits or local work)
const PHASES = PHASE_ORDER.filter((p) => !['steady', 'post', 'analyze'].includes(p));

const { values: args } = cliArgs({
  command: 'npx tsx bench/servers.ts',
  summary: 'Phase times of one full local run with 2, 4 and 8 servers (SERVERS), side by side.',
  options: {
    counts: { type: 'string', arg: 'N,N,…', default: '2,4,8', help: 'server counts to run (2-8 each)' },
  },
});

asRootUnderTestbedLock('bench/servers.ts', 'local testbed, podman, CRIU');

const counts = args.counts.split(',').map((s) => Number(s.trim()));
for (const n of counts)
  if (!Number.isInteger(n) || n < 2 || n > NAMES.length) {
    console.error(`--counts ${args.counts}: ${n} is not a server count 2-${NAMES.length}`);
    process.exit(2);
  }

const results = mkdtempSync(join(tmpdir(), 'p4sb-results-'));
const env = (n: number): Record<string, string> => ({
  ...process.env,
  TESTBED_PREFIX: 'p4sb-',
  MGMT_SUBNET: '10.198.8.0/24',
  TOFINO_SSH: 'root@10.198.8.2:22',
  LAKEWOOD_SSH: 'root@10.198.8.3:22',
  LOVELAND_SSH: 'root@10.198.8.4:22',
  SERVERS: NAMES.slice(0, n).join(','),
  MIGRATION_SCHEDULE: 'round-robin',
  RESULTS_DIR: results,
});

interface Row {
  n: number;
  ok: boolean;
  why?: string;
  ms: Record<string, number>;
}

function runWith(n: number): Row {
  console.log(`\n=== ${n} servers: ${NAMES.slice(0, n).join(', ')}`);
  const a = [tsx, join(root, 'experiments', 'run.ts'), '--migrations', '1', '--steady-state', '1', '--post-migration', '1'];
  const r = spawnSync(process.execPath, a, {
    cwd: root,
    env: env(n),
    encoding: 'utf8',
    timeout: 15 * 60_000,
    maxBuffer: 64 << 20,
  });
  const dir = r.stdout.match(/results in (\S+)/)?.[1];
  if (r.status !== 0 || !dir)
    return {
      n,
      ok: false,
      why: `exit ${r.status ?? r.signal}: ${(r.stderr || r.stdout).trim().split('\n').slice(-4).join(' | ')}`,
      ms: {},
    };
  const m = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as { phases: { name: string; durationMs: number }[] };
  return { n, ok: true, ms: Object.fromEntries(m.phases.map((p) => [p.name, p.durationMs])) };
}

const rows: Row[] = [];
try {
  for (const n of counts) rows.push(runWith(n));
} finally {
  // down with the largest count: it names every host the runs made
  spawnSync(process.execPath, [tsx, join(root, 'experiments', 'clean.ts')], {
    cwd: root,
    env: env(Math.max(...counts)),
    stdio: 'ignore',
  });
  const d = spawnSync(process.execPath, [tsx, join(root, 'experiments', 'testbed.ts'), 'down'], {
    cwd: root,
    env: env(Math.max(...counts)),
    encoding: 'utf8',
  });
  if (d.status !== 0)
    console.warn(`bench/servers.ts: testbed down failed; p4sb-* may be left: ${d.stderr.trim().split('\n').pop()}`);
  rmSync(results, { recursive: true, force: true });
}

console.log('\nphase times (ms) by number of servers; one run each, this machine shared with other work');
console.log(['phase'.padEnd(12), ...rows.map((r) => `${r.n} servers`.padStart(11))].join(' '));
for (const p of PHASES)
  console.log([p.padEnd(12), ...rows.map((r) => (r.ok ? String(r.ms[p] ?? '-') : 'failed').padStart(11))].join(' '));
const base = rows.find((r) => r.ok);
if (base)
  for (const p of ['preflight', 'sync', 'images', 'clean', 'collect'])
    console.log(
      `${p.padEnd(12)} ${rows
        .filter((r) => r.ok)
        .map((r) => `${r.n}: ${(r.ms[p] / base.ms[p]).toFixed(2)}×`)
        .join('  ')} of ${base.n} servers`,
    );
for (const r of rows) if (!r.ok) console.log(`${r.n} servers failed: ${r.why}`);
process.exit(rows.every((r) => r.ok) ? 0 : 1);
