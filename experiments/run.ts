// The phase runner: `npx tsx experiments/run.ts [options]`. Runs the selected phases in order with
// a banner each, records them in manifest.json, and on any end (ok, error, signal) runs the cleanup
// stack and, on failure, writes error.log.
import { existsSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { CONFIG_FLAGS, ConfigError, FLAG_KEYS, formatConfig, loadConfig, localPath, type LoadedConfig } from '../lib/config/load.ts';
import { KEYS } from '../lib/config/keys.ts';
import { createCleanup, installSignalHandlers, InterruptedError, writeErrorLog } from '../lib/run/cleanup.ts';
import { createContext, type RunContext } from '../lib/run/context.ts';
import { withHosts } from '../lib/hosts/current.ts';
import { createLogger, formatDuration, type Logger } from '../lib/run/log.ts';
import { PHASE_ORDER, selectPhases, SelectionError, splitList, type Phase } from '../lib/run/phases.ts';
import { createRunDir, openManifest, openState, phasesDone, readJson, writeConfigJson, type Manifest } from '../lib/run/rundir.ts';

const projectDir = resolve(dirname(fileURLToPath(import.meta.url)), '..');

export const USAGE = `Usage: npx tsx experiments/run.ts [options]

Runs the experiment phases in order: ${PHASE_ORDER.join(' ')}

Phase selection:
  --list                 list the phases and exit
  --phase NAME[,NAME]    run only these phases
  --from NAME            start at this phase
  --to NAME              stop after this phase
  --skip NAME[,NAME]     leave these phases out
  --resume RUN_DIR       rerun phases in an existing run folder (appends to its log, reads its
                         state.json); without a selection it continues after the last phase that ended ok
  --dry-run              print every command each phase would run on each host; run nothing

Configuration (later wins: config.env < config_hw.env/--config < environment < flags):
  --config FILE          hardware overlay file (default: config_hw.env when present)
  --set KEY=VALUE        set any declared key
${[...FLAG_KEYS].map(([flag, key]) => `  ${`${flag} ${KEYS[key].type.kind === 'duration' ? 'SECS' : 'N'}`.padEnd(23)}${key}\n`).join('')}  --print-config         print the effective config with the origin of every value, and exit

  --help                 this text

Exit codes: 0 ok, 1 a phase failed, 2 bad arguments or config, 130 interrupted.`;

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export interface Cli {
  help: boolean; list: boolean; printConfig: boolean; dryRun: boolean;
  phase?: string[]; from?: string; to?: string; skip?: string[]; resume?: string;
  /** Flags passed through to loadConfig. */
  configArgs: string[];
}

const VALUE_FLAGS = new Set(['--phase', '--from', '--to', '--skip', '--resume', ...CONFIG_FLAGS]);
const BOOL_FLAGS = new Set(['--help', '-h', '--list', '--print-config', '--dry-run']);

export function parseCli(argv: string[]): Cli {
  const cli: Cli = { help: false, list: false, printConfig: false, dryRun: false, configArgs: [] };
  const seen = new Set<string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const eq = arg.startsWith('--') ? arg.indexOf('=') : -1;
    const flag = eq > 0 ? arg.slice(0, eq) : arg;
    if (BOOL_FLAGS.has(flag)) {
      if (eq > 0) throw new UsageError(`${flag} takes no value`);
      if (flag === '--help' || flag === '-h') cli.help = true;
      if (flag === '--list') cli.list = true;
      if (flag === '--print-config') cli.printConfig = true;
      if (flag === '--dry-run') cli.dryRun = true;
      continue;
    }
    if (!VALUE_FLAGS.has(flag)) throw new UsageError(`unknown option ${JSON.stringify(arg)}; see --help`);
    let value: string;
    if (eq > 0) value = arg.slice(eq + 1);
    else {
      const next = argv[i + 1];
      if (next === undefined || next.startsWith('--')) throw new UsageError(`${flag} needs a value`);
      value = next;
      i++;
    }
    if (CONFIG_FLAGS.has(flag)) { cli.configArgs.push(flag, value); continue; }
    if (seen.has(flag)) throw new UsageError(`${flag} given twice; give it once (lists are comma-separated)`);
    seen.add(flag);
    if (flag === '--phase') cli.phase = splitList(value);
    if (flag === '--skip') cli.skip = splitList(value);
    if (flag === '--from') cli.from = value;
    if (flag === '--to') cli.to = value;
    if (flag === '--resume') cli.resume = value;
  }
  if (cli.resume && cli.dryRun) throw new UsageError('--dry-run cannot be combined with --resume: a dry run writes no run folder');
  if (cli.phase && (cli.from || cli.to)) throw new UsageError('--phase cannot be combined with --from/--to: use either an exact list or a range');
  return cli;
}

/** The phase list: the registry, or a test module named by P4CF_PHASES_MODULE (exports `phases`). */
export async function loadPhases(env = process.env): Promise<Phase[]> {
  const alt = env.P4CF_PHASES_MODULE;
  const mod = alt
    ? await import(pathToFileURL(resolve(alt)).href) as { phases?: Phase[] }
    : await import('./phases/index.ts') as { phases?: Phase[] };
  if (!Array.isArray(mod.phases)) throw new Error(`${alt ?? 'experiments/phases/index.ts'} does not export a phases array`);
  return mod.phases;
}

function listText(phases: Phase[]): string {
  const width = Math.max(...phases.map((p) => p.name.length));
  return phases.map((p, i) => {
    const io = [p.reads.length ? `reads ${p.reads.join(',')}` : '', p.writes.length ? `writes ${p.writes.join(',')}` : ''].filter(Boolean).join('; ');
    return `${String(i + 1).padStart(2)}. ${p.name.padEnd(width)}  ${p.description}${io ? `  [${io}]` : ''}`;
  }).join('\n');
}

function errorHost(e: unknown): string | undefined {
  const h = (e as { host?: unknown })?.host;
  return typeof h === 'string' ? h : undefined;
}

/**
 * Run the CLI; returns the exit code (the entry point calls process.exit with it). `given`: the
 * phase list to run instead of the registry (a researcher's script, via runPhases in experiments/lib.ts).
 */
export async function main(argv: string[], env = process.env, given?: Phase[]): Promise<number> {
  const out = (s: string) => process.stdout.write(s + '\n');
  let cli: Cli;
  let loaded: LoadedConfig;
  let phases: Phase[];
  try {
    cli = parseCli(argv);
    if (cli.help) { out(USAGE); return 0; }
    loaded = loadConfig({ argv: cli.configArgs, env, cwd: projectDir });
    if (cli.printConfig) { out(formatConfig(loaded)); return 0; }
    phases = given ?? await loadPhases(env);
    if (cli.list) { out(listText(phases)); return 0; }
  } catch (e) {
    if (e instanceof UsageError || e instanceof ConfigError || e instanceof SelectionError) {
      process.stderr.write(`error: ${e.message}\n`);
      return 2;
    }
    throw e;
  }

  const log = createLogger();
  const names = phases.map((p) => p.name);

  // Open the run folder (or the resumed one) first: selection on resume needs its manifest.
  let dir: string;
  if (cli.resume) {
    dir = resolve(cli.resume);
    if (!existsSync(dir) || !statSync(dir).isDirectory() || !existsSync(join(dir, 'manifest.json'))) {
      process.stderr.write(`error: --resume ${cli.resume}: not a run folder (no manifest.json in ${dir})\n`);
      return 2;
    }
  } else if (cli.dryRun) {
    dir = join(localPath(loaded.projectDir, loaded.config.RESULTS_DIR), 'run_DRYRUN');
  } else dir = '';

  let selected: string[];
  try {
    selected = selectPhases(names, {
      phase: cli.phase, from: cli.from, to: cli.to, skip: cli.skip,
      resume: Boolean(cli.resume), resumeDone: cli.resume ? phasesDone(readJson<Manifest>(join(dir, 'manifest.json'))) : undefined,
    });
  } catch (e) {
    if (e instanceof SelectionError) { process.stderr.write(`error: ${e.message}\n`); return 2; }
    throw e;
  }

  if (!cli.resume && !cli.dryRun) dir = createRunDir(localPath(loaded.projectDir, loaded.config.RESULTS_DIR));
  if (!cli.dryRun) {
    log.attachFile(join(dir, 'experiment.log'));
    writeConfigJson(dir, loaded);
  }
  const manifest = cli.dryRun ? undefined : openManifest(dir, { argv, projectDir, mode: loaded.mode.testbed, resume: Boolean(cli.resume) });
  const cleanup = createCleanup({ log });
  const state = openState(cli.dryRun ? undefined : join(dir, 'state.json'));
  const ctx = createContext({ loaded, dir, log, cleanup, state, dryRun: cli.dryRun, manifest });

  log.info(`p4cf run: mode ${loaded.mode.testbed} (${loaded.mode.why})`);
  log.info(`${cli.dryRun ? 'dry run, nothing is executed' : `run folder ${relative(process.cwd(), dir) || dir}`}${cli.resume ? ' (resumed)' : ''}`);
  log.info(`phases: ${selected.join(' ')}`);

  let interrupt: (e: InterruptedError) => void = () => {};
  const interrupted = new Promise<never>((_, reject) => { interrupt = reject; });
  interrupted.catch(() => {});
  const uninstall = installSignalHandlers({ cleanup, log, onInterrupt: (sig) => interrupt(new InterruptedError(sig)) });

  let failure: { error: unknown; phase?: string } | undefined;
  const t0 = Date.now();
  for (const name of selected) {
    const phase = phases.find((p) => p.name === name)!;
    if (phase.when && !phase.when(ctx)) {
      log.info(`=== ${name} skipped (not for mode ${loaded.mode.testbed})`);
      manifest?.phase({ name, status: 'skipped', durationMs: 0, startedAt: new Date().toISOString() });
      continue;
    }
    let hosts: string[] = [];
    // The banner must not fail a run, but a broken hosts() is a bug worth a line.
    try { hosts = phase.hosts(ctx); } catch (e) { log.warn(`phase ${name}: hosts() failed (${(e as Error)?.message ?? e}); banner without hosts`); }
    const startedAt = new Date().toISOString();
    const end = log.banner(name, phase.description, hosts);
    try {
      await Promise.race([withHosts(ctx, () => phase.run(ctx)), interrupted]);
      const durationMs = end('ok');
      manifest?.phase({ name, status: 'ok', durationMs, startedAt });
    } catch (e) {
      const status = e instanceof InterruptedError ? 'interrupted' : 'failed';
      const durationMs = end(status === 'interrupted' ? 'interrupted' : 'failed');
      manifest?.phase({ name, status, durationMs, startedAt, error: (e as Error)?.message ?? String(e) });
      log.error(`phase ${name} ${status}: ${(e as Error)?.message ?? String(e)}`);
      failure = { error: e, phase: name };
      break;
    }
  }

  const c = await cleanup.runAll(failure ? 'after failure' : 'end of run');
  await ctx.closeHosts();
  uninstall();
  if (c.failed.length) log.warn(`cleanup: ${c.failed.length} undo action(s) failed: ${c.failed.map((f) => f.label).join('; ')}`);

  if (cli.dryRun) {
    const byHost = ctx.plan!.byHost();
    log.info(`dry run: ${ctx.plan!.steps.length} step(s): ${Object.entries(byHost).map(([h, s]) => `${h} ${s.length}`).join(', ') || 'none'}`);
  }
  if (failure) {
    const where = errorHost(failure.error);
    if (!cli.dryRun) {
      const p = writeErrorLog(dir, { error: failure.error, phase: failure.phase, host: where, logTail: log.tail(300) });
      manifest?.finish(failure.error instanceof InterruptedError ? 'interrupted' : 'failed');
      log.error(`run failed in phase ${failure.phase}${where ? ` on ${where}` : ''} after ${formatDuration(Date.now() - t0)}; details in ${p}`);
      log.info(`results (partial) in ${dir}`);
    }
    return failure.error instanceof InterruptedError ? 130 : 1;
  }
  manifest?.finish('ok');
  log.info(cli.dryRun ? `dry run done in ${formatDuration(Date.now() - t0)}` : `done in ${formatDuration(Date.now() - t0)}; results in ${dir}`);
  return 0;
}

export type { RunContext, Logger };

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e) => { process.stderr.write(`fatal: ${(e as Error)?.stack ?? String(e)}\n`); process.exit(1); },
  );
}
