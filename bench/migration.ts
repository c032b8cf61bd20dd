// Benchmark: the same server container migrated with each engine, side by side in one run (issue
// 13): the 12 MB stream server with podman, runc and lazy, and STATE_MB=1024 with podman and lazy. Each case is a
// full experiment (experiments/run.ts) with short waits; printed per case: time_to_ready median
// and p95, checkpoint / transfer / restore medians, the finer engine keys, frames lost and
// connection drops, and the ratio of each median to podman's at the same state size.
// Goals (issue 13): podman p50 ≤ 550 ms, runc ≤ 300 ms (≤ 0.5 × podman), lazy (post-copy) at 1 GB
// ≤ 1500 ms (≥ 8× better than podman there), 0 frames lost everywhere. For lazy, lazy_pages_done
// (when the last page arrived, from the migration's start) is printed beside time_to_ready.
// Holds the machine-wide testbed lock (/tmp/p4cf-testbed.lock) for the whole run and takes the
// local testbed down at the end if it was not up before. Root only.
//   npx tsx bench/migration.ts [--migrations N] [--cases podman,runc,lazy,podman-1g,lazy-1g] [--big-mb MB]
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { cliArgs, intIn } from '../lib/run/cli.ts';
import { asRootUnderTestbedLock } from './lib/exclusive.ts';

const root = resolve(import.meta.dirname, '..');
const tsx = join(root, 'node_modules', 'tsx', 'dist', 'cli.mjs');

interface Case {
  name: string;
  engine: string;
  stateMb: number;
  goalMs?: number;
  goalRatio?: number;
  /** Better than podman at the same state size by at least this factor (podman / this). */
  goalSpeedup?: number;
}
const CASES: Case[] = [
  { name: 'podman', engine: 'podman', stateMb: 0, goalMs: 550 },
  { name: 'runc', engine: 'runc', stateMb: 0, goalMs: 300, goalRatio: 0.5 },
  { name: 'lazy', engine: 'lazy', stateMb: 0 },
  { name: 'podman-1g', engine: 'podman', stateMb: 1024 },
  { name: 'lazy-1g', engine: 'lazy', stateMb: 1024, goalMs: 1500, goalSpeedup: 8 },
];

const { values: args } = cliArgs({
  command: 'npx tsx bench/migration.ts',
  options: {
    migrations: {
      type: 'string',
      arg: 'N',
      default: '4',
      parse: intIn(1, 20),
      help: 'migrations per case at 12 MB (default 4; the 1 GB cases run 2)',
    },
    cases: {
      type: 'string',
      arg: 'LIST',
      default: CASES.map((c) => c.name).join(','),
      help: `cases to run (default all: ${CASES.map((c) => c.name).join(',')})`,
    },
    'big-mb': {
      type: 'string',
      arg: 'MB',
      default: '1024',
      parse: intIn(64, 4096),
      help: 'STATE_MB of the *-1g cases (default 1024; smaller when 1 GB does not fit in the time there is)',
    },
  },
});
for (const c of CASES) if (c.stateMb) c.stateMb = args['big-mb'];

asRootUnderTestbedLock('bench/migration.ts', 'local testbed, podman, CRIU');

const wanted = args.cases
  .split(',')
  .map((s) => s.trim())
  .filter(Boolean);
for (const w of wanted)
  if (!CASES.some((c) => c.name === w))
    throw new Error(`--cases: unknown case ${JSON.stringify(w)} (known: ${CASES.map((c) => c.name).join(', ')})`);
const testbedWasUp = existsSync('/run/netns/p4cf-tofino');

const median = (xs: number[]): number | null => {
  if (!xs.length) return null;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor((s.length - 1) / 2)];
};
const p95 = (xs: number[]): number | null => {
  if (!xs.length) return null;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(0.95 * s.length) - 1)];
};
const f = (x: number | null | undefined, d = 0) => (x === null || x === undefined ? '–' : x.toFixed(d));

interface Result {
  c: Case;
  ok: boolean;
  why?: string;
  dir?: string;
  timings: Record<string, number | string>[];
  lost: number | null;
  drops: number | null;
}

function column(dir: string, name: string): number[] {
  const file = join(dir, 'metrics.csv');
  if (!existsSync(file)) return [];
  const [head, ...lines] = readFileSync(file, 'utf8').trim().split('\n');
  const at = head.split(',').indexOf(name);
  return at < 0
    ? []
    : lines
        .map((l) => l.split(',')[at])
        .filter((v) => v !== '' && v !== undefined)
        .map(Number);
}

function runCase(c: Case): Result {
  const n = c.stateMb >= 512 ? Math.min(2, args.migrations) : args.migrations;
  const a = [
    tsx,
    join(root, 'experiments', 'run.ts'),
    '--migrations',
    String(n),
    '--steady-state',
    '2',
    '--post-migration',
    '2',
    '--set',
    `MIGRATION_ENGINE=${c.engine}`,
    '--set',
    `STATE_MB=${c.stateMb}`,
  ];
  console.log(`\n=== ${c.name}: ${n} migration(s), MIGRATION_ENGINE=${c.engine} STATE_MB=${c.stateMb}`);
  const r = spawnSync(process.execPath, a, { cwd: root, encoding: 'utf8', timeout: 15 * 60_000, maxBuffer: 64 << 20 });
  const dir = r.stdout.match(/results in (\S+)/)?.[1];
  if (r.status !== 0 || !dir)
    return {
      c,
      ok: false,
      why: `exit ${r.status ?? r.signal}: ${(r.stderr || r.stdout).trim().split('\n').slice(-4).join(' | ')}`,
      dir,
      timings: [],
      lost: null,
      drops: null,
    };
  const timings = Array.from({ length: n }, (_, i) => join(dir, `migration_timing_${i + 1}.json`))
    .filter(existsSync)
    .map((p) => JSON.parse(readFileSync(p, 'utf8')) as Record<string, number | string>);
  const lost = column(dir, 'frames_lost');
  const drops = column(dir, 'connection_drops');
  return {
    c,
    ok: true,
    dir,
    timings,
    lost: lost.length ? lost[lost.length - 1] : null,
    drops: drops.length ? Math.max(...drops) - Math.min(...drops) : null,
  };
}

const results: Result[] = [];
try {
  for (const c of CASES.filter((x) => wanted.includes(x.name))) results.push(runCase(c));
} finally {
  if (!testbedWasUp)
    spawnSync(process.execPath, [tsx, join(root, 'experiments', 'testbed.ts'), 'down'], { cwd: root, stdio: 'ignore' });
}

const med = (r: Result, k: string) => median(r.timings.map((t) => t[k]).filter((v): v is number => typeof v === 'number'));
const baseOf = (r: Result) => results.find((x) => x.ok && x.c.engine === 'podman' && x.c.stateMb === r.c.stateMb);
console.log(
  '\ncase          n  ready p50  p95   ×podman  checkpoint transfer restore  freeze  engine keys (p50 ms)                     lost drops',
);
for (const r of results) {
  if (!r.ok) {
    console.log(`${r.c.name.padEnd(12)} FAILED ${r.why}`);
    continue;
  }
  const ready = r.timings.map((t) => Number(t.time_to_ready_ms));
  const base = baseOf(r);
  const ratio = base && base !== r ? median(ready)! / median(base.timings.map((t) => Number(t.time_to_ready_ms)))! : null;
  const keys = [
    'podman_checkpoint_ms',
    'runc_checkpoint_ms',
    'lazy_strip_ms',
    'podman_restore_ms',
    'network_fixup_ms',
    'transfer_wire_ms',
    'lazy_pages_done_ms',
  ]
    .map((k) => [k.replace(/_ms$/, ''), med(r, k)] as const)
    .filter(([, v]) => v !== null)
    .map(([k, v]) => `${k} ${f(v)}`)
    .join(', ');
  const goal = r.c.goalMs
    ? ` goal ≤ ${r.c.goalMs}${r.c.goalRatio ? ` and ≤ ${r.c.goalRatio}×podman` : ''}${r.c.goalSpeedup ? ` and ≥ ${r.c.goalSpeedup}× better than podman (${ratio === null ? '–' : (1 / ratio).toFixed(1)}×)` : ''}`
    : '';
  console.log(
    `${r.c.name.padEnd(12)} ${String(r.timings.length).padStart(2)}  ${f(median(ready)).padStart(8)} ${f(p95(ready)).padStart(5)}  ${ratio === null ? '    –' : ratio.toFixed(2).padStart(5)}  ` +
      `${f(med(r, 'checkpoint_ms')).padStart(10)} ${f(med(r, 'transfer_ms')).padStart(8)} ${f(med(r, 'restore_ms')).padStart(7)}  ${f(med(r, 'freeze_ms'), 1).padStart(6)}  ` +
      `${keys.padEnd(40)} ${String(r.lost ?? '–').padStart(4)} ${String(r.drops ?? '–').padStart(5)}${goal}`,
  );
  console.log(`${''.padEnd(15)}${r.dir}`);
}
const bad = results.filter((r) => !r.ok);
process.exit(bad.length ? 1 : 0);
