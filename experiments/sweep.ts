// A parameter study in one command: `npx tsx experiments/sweep.ts --vary KEY=v1,v2 [--vary …]
// [--zip] [--repeat R] [run.ts options]`. Every point × repetition is an ordinary run (run.ts as a
// child, so each gets its own cleanup and exit code) in results/sweep_YYYYMMDD_HHMMSS/, next to
// sweep.json (plan and status), sweep.csv (a row per run) and sweep.html (figures vs each key).
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig, localPath } from '../lib/config/load.ts';
import { ConfigError } from '../lib/config/values.ts';
import { formatDuration } from '../lib/run/log.ts';
import { runDirName, writeJson } from '../lib/run/rundir.ts';
import {
  describePoint,
  estimateRunMs,
  expandPlan,
  parseVary,
  pointArgs,
  validatePoints,
  type SweepPlan,
  type Vary,
} from '../lib/sweep/plan.ts';
import { figuresOf, sweepCsv, sweepHtml, type SweepRow, type SweepRun } from './analysis/sweep.ts';
import type { Summary } from './analysis/summary.ts';
import { parseCli, UsageError } from './run.ts';

const projectDir = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const tsxCli = join(projectDir, 'node_modules', 'tsx', 'dist', 'cli.mjs');

export const USAGE = `Usage: npx tsx experiments/sweep.ts --vary KEY=V1,V2[,…] [--vary KEY2=…] [options] [run.ts options]

Runs run.ts once per point and repetition into results/sweep_YYYYMMDD_HHMMSS/ and writes
sweep.json (plan, parameters and status of every run), sweep.csv (one row per run) and
sweep.html (each figure against each varied key, with the spread over repetitions).

  --vary KEY=V1,V2       a loop variable: any declared config key and its values (repeatable)
  --zip                  pair the lists value by value instead of the cross product
  --repeat R             runs per point (default 1)
  --stop-on-error        stop at the first failed run (default: record it and go on)
  --dry-run              print the plan and its estimated duration; run nothing
  --resume SWEEP_DIR     continue a sweep: rerun what did not finish (pending, running, interrupted)
  --help                 this text

Every other option goes to each run (e.g. --migrations 2 --steady-state 3 --set RTO_MIN_MS=0).
Ctrl-C stops the current run (its cleanup runs), records it as interrupted and ends the sweep.
Exit codes: 0 every run ok, 1 a run failed, 2 bad arguments or config, 130 interrupted.`;

export interface SweepCli {
  varies: Vary[];
  zip: boolean;
  repeat: number;
  stopOnError: boolean;
  dryRun: boolean;
  help: boolean;
  resume?: string;
  /** Options for run.ts, validated by its own parser. */
  runArgs: string[];
}

export function parseSweepCli(argv: string[]): SweepCli {
  const cli: SweepCli = { varies: [], zip: false, repeat: 1, stopOnError: false, dryRun: false, help: false, runArgs: [] };
  const value = (i: number, flag: string): string => {
    const v = argv[i + 1];
    if (v === undefined || v.startsWith('--')) throw new UsageError(`${flag} needs a value`);
    return v;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const [flag, inline] =
      a.startsWith('--') && a.includes('=') && !a.startsWith('--set')
        ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)]
        : [a, undefined];
    const take = () => (inline !== undefined ? inline : value(i++, flag));
    if (flag === '--vary') cli.varies.push(parseVary(take()));
    else if (flag === '--repeat') {
      const v = take();
      if (!/^\d+$/.test(v)) throw new UsageError(`--repeat ${JSON.stringify(v)}: expected a whole number of runs per point`);
      cli.repeat = Number(v);
    } else if (flag === '--resume') cli.resume = take();
    else if (flag === '--zip') cli.zip = true;
    else if (flag === '--stop-on-error') cli.stopOnError = true;
    else if (flag === '--dry-run') cli.dryRun = true;
    else if (flag === '--help' || flag === '-h') cli.help = true;
    else cli.runArgs.push(a);
  }
  const run = parseCli(cli.runArgs); // unknown run options fail here, before anything runs
  if (run.resume || run.dryRun)
    throw new UsageError(
      "run.ts's --resume/--dry-run are not per-run options of a sweep; use the sweep's own --resume SWEEP_DIR / --dry-run",
    );
  if (cli.varies.some((v) => v.key === 'RESULTS_DIR'))
    throw new ConfigError('--vary RESULTS_DIR: the sweep folder holds every run; vary something else');
  return cli;
}

interface SweepFile {
  version: 1;
  created: string;
  argv: string[];
  runArgs: string[];
  plan: Omit<SweepPlan, 'runs'>;
  runs: SweepRun[];
}

const runFolders = (dir: string): Set<string> =>
  new Set(existsSync(dir) ? readdirSync(dir).filter((f) => f.startsWith('run_') && statSync(join(dir, f)).isDirectory()) : []);

function readSummary(dir: string): Summary | undefined {
  try {
    return JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8')) as Summary;
  } catch {
    return undefined;
  }
}

/** One run of the sweep as a child process in its own process group (so Ctrl-C reaches it once, from us). */
function runOne(args: string[], onChild: (kill: (sig: NodeJS.Signals) => void) => void): Promise<number> {
  const child = spawn(process.execPath, [tsxCli, join(projectDir, 'experiments', 'run.ts'), ...args], {
    cwd: projectDir,
    stdio: 'inherit',
    detached: true,
  });
  onChild((sig) => {
    try {
      child.kill(sig);
    } catch {
      /* already gone */
    }
  });
  return new Promise((res) => child.once('exit', (code, sig) => res(code ?? (sig === 'SIGINT' ? 130 : 128 + 15))));
}

export async function main(argv: string[]): Promise<number> {
  const say = (m: string) => process.stdout.write(`[sweep] ${m}\n`);
  let cli: SweepCli;
  let file: SweepFile;
  let dir: string;
  try {
    cli = parseSweepCli(argv);
    if (cli.help) {
      process.stdout.write(USAGE + '\n');
      return 0;
    }
    if (cli.resume) {
      dir = resolve(cli.resume);
      if (!existsSync(join(dir, 'sweep.json')))
        throw new UsageError(`--resume ${cli.resume}: not a sweep folder (no sweep.json in ${dir})`);
      file = JSON.parse(readFileSync(join(dir, 'sweep.json'), 'utf8')) as SweepFile;
      if (cli.varies.length) throw new UsageError('--resume continues the sweep as planned: give no --vary with it');
      cli.runArgs = file.runArgs;
    } else {
      const plan = expandPlan(cli.varies, { zip: cli.zip, repeat: cli.repeat });
      const base = loadConfig({ argv: parseCli(cli.runArgs).configArgs, cwd: projectDir });
      dir = join(localPath(projectDir, base.config.RESULTS_DIR), runDirName(new Date()).replace(/^run_/, 'sweep_'));
      const { runs, ...rest } = plan;
      file = {
        version: 1,
        created: new Date().toISOString(),
        argv,
        runArgs: cli.runArgs,
        plan: rest,
        runs: runs.map((r) => ({ ...r, status: 'pending' })),
      };
    }
    const plan: SweepPlan = { ...file.plan, runs: file.runs };
    const configs = validatePoints(plan, parseCli(cli.runArgs).configArgs, { cwd: projectDir });
    const estimate = configs.reduce((a, c) => a + estimateRunMs(c), 0) / configs.length;
    const todo = file.runs.filter((r) => r.status !== 'ok' && r.status !== 'failed');
    say(
      `${file.plan.varies.map((v) => `${v.key} ∈ {${v.values.join(', ')}}`).join(' × ')}${file.plan.zip ? ' (paired)' : ''}, ${file.plan.repeat} repetition(s): ${file.runs.length} run(s), ${todo.length} to do, about ${formatDuration(todo.length * estimate)}`,
    );
    if (cli.dryRun) {
      for (const r of file.runs)
        say(`  run ${r.index}: point ${r.point} rep ${r.rep}: run.ts ${[...cli.runArgs, ...pointArgs(r.params)].join(' ')}`);
      say(`dry run: nothing was run; results would go to ${dir}`);
      return 0;
    }
  } catch (e) {
    if (e instanceof UsageError || e instanceof ConfigError) {
      process.stderr.write(`error: ${e.message}\n`);
      return 2;
    }
    throw e;
  }

  mkdirSync(dir, { recursive: true });
  const plan: SweepPlan = { ...file.plan, runs: file.runs };
  const save = async () => {
    writeJson(join(dir, 'sweep.json'), file);
    const rows: SweepRow[] = file.runs.map((run) => {
      const s = run.dir && run.status === 'ok' ? readSummary(join(dir, run.dir)) : undefined;
      return { run, figures: s ? figuresOf(s) : {} };
    });
    await writeFile(join(dir, 'sweep.csv'), sweepCsv(plan, rows));
    await writeFile(
      join(dir, 'sweep.html'),
      await sweepHtml(plan, rows, { dir, command: `npx tsx experiments/sweep.ts ${file.argv.join(' ')}` }),
    );
  };
  say(`sweep folder ${relative(process.cwd(), dir) || dir}`);

  let kill: ((sig: NodeJS.Signals) => void) | undefined;
  let interrupted = false;
  const onSignal = (sig: NodeJS.Signals) => {
    interrupted = true;
    say(`${sig}: stopping the current run (its cleanup runs); the sweep ends after it`);
    kill?.(sig);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const timed: number[] = [];
  let failed = 0;
  try {
    for (const run of file.runs) {
      if (run.status === 'ok' || run.status === 'failed') continue;
      if (interrupted) break;
      const left = file.runs.filter((r) => r.status !== 'ok' && r.status !== 'failed').length;
      const per = timed.length
        ? timed.reduce((a, b) => a + b, 0) / timed.length
        : estimateRunMs(
            loadConfig({ argv: [...parseCli(cli.runArgs).configArgs, ...pointArgs(run.params)], cwd: projectDir }).config,
          );
      say(
        `run ${run.index}/${file.runs.length}: point ${run.point} (${describePoint(run.params)}), rep ${run.rep}/${file.plan.repeat}; ${left - 1} left after it, about ${formatDuration(left * per)} remaining`,
      );
      const before = runFolders(dir);
      run.status = 'running';
      await save();
      const t0 = Date.now();
      const code = await runOne([...cli.runArgs, ...pointArgs(run.params), '--set', `RESULTS_DIR=${dir}`], (k) => {
        kill = k;
      });
      kill = undefined;
      run.durationMs = Date.now() - t0;
      run.exitCode = code;
      run.dir = [...runFolders(dir)].find((f) => !before.has(f));
      run.status = code === 0 ? 'ok' : code === 130 || interrupted ? 'interrupted' : 'failed';
      if (run.status === 'failed') {
        failed++;
        run.error = `run.ts exited ${code}${run.dir ? `; see ${run.dir}/error.log` : ''}`;
      }
      if (run.status === 'ok') timed.push(run.durationMs);
      await save();
      say(`run ${run.index}: ${run.status} in ${formatDuration(run.durationMs)}${run.dir ? ` → ${run.dir}` : ''}`);
      if (run.status === 'failed' && cli.stopOnError) {
        say('--stop-on-error: stopping');
        break;
      }
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  await save();
  const n = (s: string) => file.runs.filter((r) => r.status === s).length;
  say(`${n('ok')} ok, ${n('failed')} failed, ${n('interrupted') + n('pending')} not done; sweep.csv and sweep.html in ${dir}`);
  if (interrupted) {
    say(`continue with: npx tsx experiments/sweep.ts --resume ${relative(process.cwd(), dir) || dir}`);
    return 130;
  }
  return failed ? 1 : 0;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e) => {
      process.stderr.write(`fatal: ${(e as Error)?.stack ?? String(e)}\n`);
      process.exit(1);
    },
  );
}
