// Benchmark: does downtime stay flat over a long run with many connections (issue 12, item 6)?
// Runs experiments/run.ts once on the local testbed with N migrations and C load generator
// connections (short waits: --steady-state 3 --post-migration 1), then reads the run folder's
// migration_timing_<i>.json and summary.json and prints, for time_to_ready, restore and the
// checkpoint size: the first and the last 10 migrations side by side, their ratio (baseline: the
// first 10 migrations of the same run), the least-squares slope per migration with its 95% CI, the
// drift over the run against the spread around the line, the same for the Theil–Sen slope (robust:
// the machine is shared, and a burst of another job's load pulls least squares), a table per tenth of
// the run (median and minimum time_to_ready, median restore and checkpoint size, the machine's load
// average meanwhile: a floor that stays flat while the medians rise is load, not accumulation); and
// the frames lost and connection drops.
// Goal: flat within noise over 100 migrations with 64 connections, 0 frames lost.
// Root only (the local testbed). A testbed this benchmark brought up is taken down again.
//   npx tsx bench/soak.ts [--migrations 100] [--connections 64] [--post-migration 1]
//   npx tsx bench/soak.ts --run-dir results/run_…   (only the figures of an existing run folder)
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { linearFit, mean, percentile, sd, theilSen, type LinearFit } from '../lib/analysis/stats.ts';
import { cliArgs, intIn } from '../lib/run/cli.ts';

const { values: args } = cliArgs({
  command: 'npx tsx bench/soak.ts',
  summary:
    'Soak benchmark: N migrations with C connections; first/last 10 and the per-migration slope of time_to_ready, restore and checkpoint size.',
  options: {
    migrations: { type: 'string', arg: 'N', default: '100', parse: intIn(2, 1000), help: 'migrations (default 100)' },
    connections: {
      type: 'string',
      arg: 'C',
      default: '64',
      parse: intIn(1, 10_000),
      help: 'load generator connections (default 64)',
    },
    'post-migration': {
      type: 'string',
      arg: 'SECS',
      default: '1',
      parse: intIn(0, 600),
      help: 'wait after each migration (default 1)',
    },
    'steady-state': {
      type: 'string',
      arg: 'SECS',
      default: '3',
      parse: intIn(1, 600),
      help: 'wait before the first (default 3)',
    },
    'run-dir': {
      type: 'string',
      arg: 'RUN',
      default: '',
      help: 'print the figures of an existing run folder instead of running',
    },
  },
});
const N = args.migrations;
const CONNS = args.connections;
const POST = args['post-migration'];
const STEADY = args['steady-state'];
const WINDOW = Math.min(10, Math.floor(N / 2));
// The fault pass that filed issue 12 (before the fix): 40 migrations, 64 connections.
const FAULT_PASS = {
  migrations: 40,
  ttrFirst: 667,
  ttrLast: 2813,
  restoreFirst: 308,
  restoreLast: 2191,
  mbFirst: 17,
  mbLast: 35,
};

const RUN_DIR = args['run-dir'] ? resolve(args['run-dir']) : '';
if (RUN_DIR && !existsSync(join(RUN_DIR, 'migration_timing_1.json')))
  throw new Error(`--run-dir ${RUN_DIR}: no migration_timing_1.json there (expected a run folder with migrations)`);

if (!RUN_DIR && process.getuid?.() !== 0) {
  console.log('bench/soak.ts SKIPPED: needs root (the local testbed: namespaces, podman, CRIU)');
  process.exit(0);
}

const projectDir = resolve(import.meta.dirname, '..');
const tsxCli = join(projectDir, 'node_modules', 'tsx', 'dist', 'cli.mjs');
const testbedWasUp = RUN_DIR !== '' || existsSync('/run/netns/p4cf-tofino');

/** The machine's 1-minute load average every 2 s while run.ts runs (other helpers' jobs show here). */
const loadSamples: { at: number; load1: number }[] = [];

/** run.ts as a child (its own lock, cleanup and exit code); progress lines pass through. */
function runExperiment(): Promise<{ code: number; out: string }> {
  const argv = [
    '--migrations',
    String(N),
    '--steady-state',
    String(STEADY),
    '--post-migration',
    String(POST),
    '--set',
    `LOADGEN_CONNECTIONS=${CONNS}`,
    // the published 200 ms ramp would spend C/5 s opening connections; the soak studies migrations
    '--set',
    'LOADGEN_RAMP=20ms',
  ];
  console.log(`running: experiments/run.ts ${argv.join(' ')}`);
  const child = spawn(process.execPath, [tsxCli, join(projectDir, 'experiments', 'run.ts'), ...argv], {
    cwd: projectDir,
    env: { ...process.env, CI: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let partial = '';
  const onData = (b: Buffer) => {
    out += b.toString();
    partial += b.toString();
    const lines = partial.split('\n');
    partial = lines.pop()!;
    for (const l of lines) {
      const m = l.match(/migration (\d+) \S+: done: .*time_to_ready (\d+(?:\.\d+)?) ms/);
      if (m && (Number(m[1]) % 10 === 0 || Number(m[1]) === 1))
        console.log(`  migration ${m[1]}/${N}: time_to_ready ${Math.round(Number(m[2]))} ms`);
      if (/\berror\b|failed/i.test(l) && !/0 failed/.test(l)) console.log(`  ${l.trim()}`);
    }
  };
  const load = setInterval(
    () => loadSamples.push({ at: Date.now(), load1: Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]) }),
    2000,
  );
  child.once('exit', () => clearInterval(load));
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const stop = (sig: NodeJS.Signals) => child.kill(sig);
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  return new Promise((res) => child.once('exit', (code, sig) => res({ code: code ?? (sig === 'SIGINT' ? 130 : 143), out })));
}

function runDirOf(out: string): string | undefined {
  const m = out.match(/results in (\S+)/) ?? out.match(/run folder (\S+)/);
  return m ? resolve(projectDir, m[1]) : undefined;
}

/** LOADGEN_CONNECTIONS of an existing run, from its config.json. */
function connectionsOf(dir: string): string {
  try {
    const c = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
    const v = (c.config as Record<string, unknown> | undefined)?.LOADGEN_CONNECTIONS ?? c.LOADGEN_CONNECTIONS;
    return v === undefined ? '?' : String((v as { value?: unknown }).value ?? v);
  } catch {
    return '?';
  }
}

interface Series {
  label: string;
  unit: string;
  values: number[];
  digits: number;
}

function readSeries(dir: string): {
  ttr: Series;
  restore: Series;
  checkpoint: Series;
  size: Series;
  startsMs: number[];
  count: number;
} {
  const rows: Record<string, unknown>[] = [];
  for (let i = 1; existsSync(join(dir, `migration_timing_${i}.json`)); i++) {
    rows.push(JSON.parse(readFileSync(join(dir, `migration_timing_${i}.json`), 'utf8')) as Record<string, unknown>);
  }
  const col = (k: string, scale = 1) => rows.map((r) => (r[k] === undefined || r[k] === '' ? NaN : Number(r[k]) * scale));
  return {
    count: rows.length,
    startsMs: col('migration_start_ns', 1e-6),
    ttr: { label: 'time_to_ready', unit: 'ms', values: col('time_to_ready_ms'), digits: 0 },
    restore: { label: 'restore', unit: 'ms', values: col('restore_ms'), digits: 0 },
    checkpoint: { label: 'checkpoint', unit: 'ms', values: col('checkpoint_ms'), digits: 0 },
    size: { label: 'checkpoint size', unit: 'MB', values: col('checkpoint_size_bytes', 1 / 1e6), digits: 2 },
  };
}

const f = (x: number | null | undefined, d: number) =>
  x === null || x === undefined || !Number.isFinite(x) ? 'n/a' : x.toFixed(d);

function line(s: Series): { text: string; fit: LinearFit | null; flat: boolean } {
  const first = s.values.slice(0, WINDOW);
  const last = s.values.slice(-WINDOW);
  const [a, b] = [mean(first), mean(last)];
  const xs = s.values.map((_, i) => i + 1);
  const fit = linearFit(xs, s.values);
  const ts = theilSen(xs, s.values);
  const drift = fit ? fit.slope * (s.values.length - 1) : NaN;
  const tsDrift = ts ? ts.slope * (s.values.length - 1) : NaN;
  // Flat within noise: the robust slope's 95% CI contains 0, or its whole drift over the run is
  // smaller than the spread of single migrations around the line. Least squares is printed beside
  // it; one burst of load from another job on the machine is enough to tilt it.
  const flat =
    !!ts &&
    ((ts.ci95 !== null && ts.ci95.low <= 0 && ts.ci95.high >= 0) ||
      (fit?.residualSd != null && Math.abs(tsDrift) < fit.residualSd));
  const d = s.digits + 1;
  const u = s.unit;
  const text =
    `${s.label.padEnd(16)} first ${WINDOW}: ${f(a, s.digits)} ± ${f(sd(first), s.digits)} ${u} (median ${f(percentile(first, 0.5), s.digits)})   ` +
    `last ${WINDOW}: ${f(b, s.digits)} ± ${f(sd(last), s.digits)} ${u} (median ${f(percentile(last, 0.5), s.digits)})   ` +
    `last/first ${a && b !== null ? (b / a).toFixed(2) : 'n/a'}\n` +
    `${''.padEnd(16)} least squares ${f(fit?.slope, d)} ${u}/migration (95% CI ${f(fit?.slopeCi95?.low, d)}..${f(fit?.slopeCi95?.high, d)}), drift ${f(drift, s.digits)} ${u}\n` +
    `${''.padEnd(16)} Theil–Sen     ${f(ts?.slope, d)} ${u}/migration (95% CI ${f(ts?.ci95?.low, d)}..${f(ts?.ci95?.high, d)}), drift ${f(tsDrift, s.digits)} ${u} ` +
    `vs spread (residual sd) ${f(fit?.residualSd, s.digits)} ${u} → ${flat ? 'flat within noise' : 'NOT flat'}`;
  return { text, fit, flat };
}

/** One line per tenth of the run: the trend without the single outliers, beside the machine's load. */
function tenths(s: ReturnType<typeof readSeries>): string {
  const parts = Math.min(10, s.count);
  const out = [
    `per tenth of the run: migrations | time_to_ready median / min ms | restore median ms | checkpoint median MB | load avg (1 min, this machine)`,
  ];
  for (let k = 0; k < parts; k++) {
    const [lo, hi] = [Math.floor((k * s.count) / parts), Math.floor(((k + 1) * s.count) / parts)];
    const pick = (x: Series) => x.values.slice(lo, hi).filter(Number.isFinite);
    const ttr = pick(s.ttr);
    const [from, to] = [s.startsMs[lo], s.startsMs[hi - 1]];
    const load = loadSamples.filter((l) => l.at >= from && l.at <= to + 5000).map((l) => l.load1);
    out.push(
      `  ${`${lo + 1}-${hi}`.padEnd(8)} | ${f(percentile(ttr, 0.5), 0).padStart(5)} / ${f(Math.min(...ttr), 0).padStart(5)} | ` +
        `${f(percentile(pick(s.restore), 0.5), 0).padStart(5)} | ${f(percentile(pick(s.size), 0.5), 2).padStart(6)} | ${load.length ? f(mean(load), 2) : 'n/a'}`,
    );
  }
  return out.join('\n');
}

const t0 = Date.now();
let code = 1;
try {
  const r = RUN_DIR ? { code: 0, out: `results in ${RUN_DIR}` } : await runExperiment();
  const dir = runDirOf(r.out);
  if (!dir) throw new Error(`no run folder in run.ts's output (exit ${r.code}):\n${r.out.slice(-3000)}`);
  const s = readSeries(dir);
  if (r.code !== 0) console.log(`run.ts exited ${r.code} after ${s.count} migration(s); see ${join(dir, 'error.log')}`);
  if (s.count < 2) throw new Error(`only ${s.count} migration timing file(s) in ${dir}: nothing to fit`);
  const summary = existsSync(join(dir, 'summary.json'))
    ? (JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8')) as {
        counters?: { frames_lost?: { total?: number | null }; pings_unanswered?: { total?: number | null } };
        connection_drops?: number | null;
      })
    : undefined;
  const conns = RUN_DIR ? connectionsOf(dir) : String(CONNS);
  console.log(
    `\nsoak benchmark: ${s.count} migrations with ${conns} connections${RUN_DIR ? '' : ` in ${((Date.now() - t0) / 1000).toFixed(0)} s`} (run folder ${dir})`,
  );
  console.log(`baseline: the first ${WINDOW} migrations of this run; goal: flat within noise, 0 frames lost`);
  const lines = [s.ttr, s.restore, s.checkpoint, s.size].map(line);
  for (const l of lines) console.log(l.text);
  console.log(tenths(s));
  const fp = FAULT_PASS;
  const fpSlope = (fp.ttrLast - fp.ttrFirst) / (fp.migrations - 1);
  const ttrSlope = lines[0].fit?.slope ?? NaN;
  console.log(
    `reference, the fault pass before the fix (issue 12; first → ${fp.migrations}th migration): time_to_ready ${fp.ttrFirst} → ${fp.ttrLast} ms (≈${fpSlope.toFixed(1)} ms/migration), ` +
      `restore ${fp.restoreFirst} → ${fp.restoreLast} ms, checkpoint ${fp.mbFirst} → ${fp.mbLast} MB; this run's time_to_ready slope = ${(ttrSlope / fpSlope).toFixed(3)} × that`,
  );
  const lost = summary?.counters?.frames_lost?.total;
  console.log(
    `frames lost: ${lost ?? 'not measured'}; pings unanswered: ${summary?.counters?.pings_unanswered?.total ?? 'not measured'}; connection drops: ${summary?.connection_drops ?? 'not measured'}`,
  );
  console.log(
    `verdict: time_to_ready ${lines[0].flat ? 'flat' : 'GROWS'}, checkpoint size ${lines[3].flat ? 'flat' : 'GROWS'}, frames lost ${lost ?? 'n/a'}`,
  );
  code = r.code;
} finally {
  if (!testbedWasUp) {
    const down = spawn(process.execPath, [tsxCli, join(projectDir, 'experiments', 'testbed.ts'), 'down'], {
      cwd: projectDir,
      stdio: 'ignore',
    });
    await new Promise((res) => down.once('exit', res));
  }
}
process.exit(code);
