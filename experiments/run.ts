// The phase runner: `npx tsx experiments/run.ts [options]`. Runs the selected phases in order with
// a banner each, records them in manifest.json, and on any end (ok, error, signal) runs the cleanup
// stack and, on failure, writes error.log.
import { existsSync, rmSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { formatConfig, loadConfig, localPath, type LoadedConfig } from '../lib/config/load.ts';
import { CONFIG_OPTIONS, configArgv } from '../lib/config/sources.ts';
import { ConfigError } from '../lib/config/values.ts';
import { helpText, parseCli as parseArgv, UsageError, type CliSpec } from '../lib/run/cli.ts';
import { createCleanup, installSignalHandlers, InterruptedError, writeErrorLog } from '../lib/run/cleanup.ts';
import { createContext, type RunContext } from '../lib/run/context.ts';
import { withHosts } from '../lib/hosts/current.ts';
import { createLogger, formatDuration, type Logger } from '../lib/run/log.ts';
import { PHASE_ORDER, selectPhases, SelectionError, splitList, type Phase } from '../lib/run/phases.ts';
import { lockHosts, lockLocal, localLockPath, LockHeldError, myLockInfo, type HeldLock } from '../lib/run/lock.ts';
import {
  checkResultsDir,
  createRunDir,
  openManifest,
  openState,
  phasesDone,
  phaseState,
  readJson,
  writeConfigJson,
  type Manifest,
} from '../lib/run/rundir.ts';

const projectDir = resolve(dirname(fileURLToPath(import.meta.url)), '..');

const PHASES = 'Phase selection';

/** The runner's command line: phase selection, then the config flags declared with the keys. */
export const CLI_SPEC = {
  command: 'npx tsx experiments/run.ts',
  summary: `Runs the experiment phases in order: ${PHASE_ORDER.join(' ')}`,
  options: {
    list: { type: 'boolean', group: PHASES, help: 'list the phases and exit' },
    phase: {
      type: 'string',
      arg: 'NAME[,NAME]',
      group: PHASES,
      help: 'run only these phases (comma-separated)',
      parse: splitList,
    },
    from: { type: 'string', arg: 'NAME', group: PHASES, help: 'start at this phase' },
    to: { type: 'string', arg: 'NAME', group: PHASES, help: 'stop after this phase' },
    skip: {
      type: 'string',
      arg: 'NAME[,NAME]',
      group: PHASES,
      help: 'leave these phases out (comma-separated)',
      parse: splitList,
    },
    resume: {
      type: 'string',
      arg: 'RUN_DIR',
      group: PHASES,
      help: 'rerun phases in an existing run folder (appends to its log, reads its\nstate.json); without a selection it continues after the last phase that ended ok',
    },
    'dry-run': { type: 'boolean', group: PHASES, help: 'print every command each phase would run on each host; run nothing' },
    ...CONFIG_OPTIONS,
    'print-config': {
      type: 'boolean',
      group: 'Configuration',
      help: 'print the effective config with the origin of every value, and exit',
    },
  },
  epilog:
    'Configuration layers, later wins: config.env < config_hw.env/--config < environment < flags.\n\nExit codes: 0 ok, 1 a phase failed, 2 bad arguments or config, 130 interrupted.',
} as const satisfies CliSpec;

export const USAGE = helpText(CLI_SPEC);

export { UsageError };

export interface Cli {
  help: boolean;
  list: boolean;
  printConfig: boolean;
  dryRun: boolean;
  phase?: string[];
  from?: string;
  to?: string;
  skip?: string[];
  resume?: string;
  /** Flags passed through to loadConfig. */
  configArgs: string[];
}

export function parseCli(argv: string[]): Cli {
  const { values: v, given } = parseArgv(CLI_SPEC, argv);
  const cli: Cli = {
    help: v.help,
    list: v.list,
    printConfig: v['print-config'],
    dryRun: v['dry-run'],
    phase: v.phase,
    from: v.from,
    to: v.to,
    skip: v.skip,
    resume: v.resume,
    configArgs: configArgv(given),
  };
  if (cli.resume && cli.dryRun)
    throw new UsageError('--dry-run cannot be combined with --resume: a dry run writes no run folder');
  if (cli.phase && (cli.from || cli.to))
    throw new UsageError('--phase cannot be combined with --from/--to: use either an exact list or a range');
  return cli;
}

/** The phase list: the registry, or a test module named by P4CF_PHASES_MODULE (exports `phases`). */
export async function loadPhases(env = process.env): Promise<Phase[]> {
  const alt = env.P4CF_PHASES_MODULE;
  const mod = alt
    ? ((await import(pathToFileURL(resolve(alt)).href)) as { phases?: Phase[] })
    : ((await import('./phases/index.ts')) as { phases?: Phase[] });
  if (!Array.isArray(mod.phases)) throw new Error(`${alt ?? 'experiments/phases/index.ts'} does not export a phases array`);
  return mod.phases;
}

function listText(phases: Phase[]): string {
  const width = Math.max(...phases.map((p) => p.name.length));
  return phases
    .map((p, i) => {
      const io = [p.reads.length ? `reads ${p.reads.join(',')}` : '', p.writes.length ? `writes ${p.writes.join(',')}` : '']
        .filter(Boolean)
        .join('; ');
      return `${String(i + 1).padStart(2)}. ${p.name.padEnd(width)}  ${p.description}${io ? `  [${io}]` : ''}`;
    })
    .join('\n');
}

/** The run's lock: the local testbed's file here, or one file on each lab host (hardware). */
async function takeRunLock(ctx: RunContext, dir: string): Promise<HeldLock> {
  const me = myLockInfo(dir);
  const warn = (m: string) => ctx.log.warn(m);
  if (ctx.mode.testbed === 'local') return lockLocal(localLockPath(ctx.config.TESTBED_PREFIX), me, { warn });
  const roles = ['tofino', ...ctx.config.SERVERS];
  return lockHosts(Object.fromEntries(roles.map((r) => [r, ctx.host(r)])), me, { warn });
}

/** How long an interrupted phase may take to stop (a migration restores the service first). */
export const PHASE_STOP_TIMEOUT_MS = 120_000;

/** Wait (bounded) for the aborted phase to settle; the error says how it ended. */
async function stopPhase(log: Logger, name: string, running: Promise<void>, e: InterruptedError): Promise<InterruptedError> {
  log.info(`${e.signal}: waiting up to ${PHASE_STOP_TIMEOUT_MS / 1000} s for phase ${name} to stop before cleaning up`);
  let timer: NodeJS.Timeout | undefined;
  const t0 = Date.now();
  const how = await Promise.race([
    running.then(
      () => 'ended normally',
      (err: Error) => `stopped: ${err?.message ?? String(err)}`,
    ),
    new Promise<string>((r) => {
      timer = setTimeout(
        () => r(`did NOT stop within ${PHASE_STOP_TIMEOUT_MS / 1000} s; cleaning up anyway`),
        PHASE_STOP_TIMEOUT_MS,
      );
    }),
  ]);
  clearTimeout(timer);
  log.warn(`phase ${name} ${how} (after ${Date.now() - t0} ms)`);
  e.stopped = how;
  e.message = `interrupted by ${e.signal}; phase ${name} ${how}`;
  return e;
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
    if (cli.help) {
      out(USAGE);
      return 0;
    }
    loaded = loadConfig({ argv: cli.configArgs, env, cwd: projectDir });
    if (cli.printConfig) {
      out(formatConfig(loaded));
      return 0;
    }
    phases = given ?? (await loadPhases(env));
    if (cli.list) {
      out(listText(phases));
      return 0;
    }
    if (!cli.dryRun && !cli.resume)
      checkResultsDir(localPath(loaded.projectDir, loaded.config.RESULTS_DIR), loaded.origins.RESULTS_DIR);
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
      phase: cli.phase,
      from: cli.from,
      to: cli.to,
      skip: cli.skip,
      resume: Boolean(cli.resume),
      resumeDone: cli.resume ? phasesDone(readJson<Manifest>(join(dir, 'manifest.json'))) : undefined,
    });
  } catch (e) {
    if (e instanceof SelectionError) {
      process.stderr.write(`error: ${e.message}\n`);
      return 2;
    }
    throw e;
  }

  if (!cli.resume && !cli.dryRun) dir = createRunDir(localPath(loaded.projectDir, loaded.config.RESULTS_DIR));
  if (!cli.dryRun) {
    log.attachFile(join(dir, 'experiment.log'));
    writeConfigJson(dir, loaded);
  }
  const manifest = cli.dryRun
    ? undefined
    : openManifest(dir, { argv, projectDir, mode: loaded.mode.testbed, resume: Boolean(cli.resume) });
  const cleanup = createCleanup({ log });
  const state = openState(cli.dryRun ? undefined : join(dir, 'state.json'));
  const ctx = createContext({ loaded, dir, log, cleanup, state, dryRun: cli.dryRun, manifest });

  log.info(`p4cf run: mode ${loaded.mode.testbed} (${loaded.mode.why})`);
  for (const w of loaded.warnings) log.warn(w);
  log.info(
    `${cli.dryRun ? 'dry run, nothing is executed' : `run folder ${relative(process.cwd(), dir) || dir}`}${cli.resume ? ' (resumed)' : ''}`,
  );
  log.info(`phases: ${selected.join(' ')}`);

  // Before any phase: a second run must not touch what this one builds (and vice versa).
  if (!cli.dryRun) {
    try {
      const lock = await takeRunLock(ctx, dir);
      // registered first, so it is released last, after every other undo
      cleanup.add(`release run lock ${lock.paths.join(', ')}`, () => lock.release());
      log.info(`run lock: ${lock.paths.join(', ')}`);
    } catch (e) {
      await ctx.closeHosts();
      // e.g. a lab host that does not answer: no phase ran, so nothing needs undoing
      log.error(e instanceof LockHeldError ? e.message : `cannot take the run lock: ${(e as Error)?.message ?? e}`);
      // a refused run leaves nothing: its fresh folder goes again (a resumed one stays as it was)
      if (!cli.resume) {
        manifest?.finish('failed');
        rmSync(dir, { recursive: true, force: true });
      }
      return 1;
    }
  }

  // A signal aborts the running phase (its commands and waits end; a migration brings the
  // service back first); the undos run only once it stopped, so no step runs after them.
  let interrupt: (e: InterruptedError) => void = () => {};
  const interrupted = new Promise<never>((_, reject) => {
    interrupt = reject;
  });
  interrupted.catch(() => {});
  const uninstall = installSignalHandlers({
    cleanup,
    log,
    onInterrupt: (sig) => {
      const e = new InterruptedError(sig);
      ctx.abort(e);
      interrupt(e);
    },
  });

  // Undeclared state keys fail a dry run (it walks every phase's main path, hardware branches
  // included) and the tests (P4CF_STRICT_STATE=1); a real run only warns (see phaseState).
  const strictState = cli.dryRun || env.P4CF_STRICT_STATE === '1';
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
    try {
      hosts = phase.hosts(ctx);
    } catch (e) {
      log.warn(`phase ${name}: hosts() failed (${(e as Error)?.message ?? e}); banner without hosts`);
    }
    const startedAt = new Date().toISOString();
    const end = log.banner(name, phase.description, hosts);
    try {
      // The same ctx object (helpers cache per context, e.g. the controller forward) with the
      // phase's view of the state; undos, which run after the loop, see the whole state again.
      ctx.state = phaseState(state, phase, { strict: strictState, warn: (m) => log.warn(m) });
      const running = withHosts(ctx, () => phase.run(ctx));
      running.catch(() => {});
      try {
        await Promise.race([running, interrupted]);
        // a phase that blocked the event loop (analyze) ends before the signal is delivered: let it in
        await new Promise((r) => setImmediate(r));
        if (ctx.signal.aborted) throw ctx.signal.reason;
      } catch (e) {
        if (e instanceof InterruptedError) throw await stopPhase(log, name, running, e);
        throw e;
      }
      const durationMs = end('ok');
      manifest?.phase({ name, status: 'ok', durationMs, startedAt });
    } catch (e) {
      const status = e instanceof InterruptedError ? 'interrupted' : 'failed';
      const durationMs = end(status === 'interrupted' ? 'interrupted' : 'failed');
      manifest?.phase({ name, status, durationMs, startedAt, error: (e as Error)?.message ?? String(e) });
      log.error(`phase ${name} ${status}: ${(e as Error)?.message ?? String(e)}`);
      failure = { error: e, phase: name };
      break;
    } finally {
      ctx.state = state;
    }
  }

  const c = await cleanup.runAll(failure ? 'after failure' : 'end of run');
  await ctx.closeHosts();
  uninstall();
  if (c.failed.length) log.warn(`cleanup: ${c.failed.length} undo action(s) failed: ${c.failed.map((f) => f.label).join('; ')}`);

  if (cli.dryRun) {
    const byHost = ctx.plan!.byHost();
    log.info(
      `dry run: ${ctx.plan!.steps.length} step(s): ${
        Object.entries(byHost)
          .map(([h, s]) => `${h} ${s.length}`)
          .join(', ') || 'none'
      }`,
    );
  }
  if (failure) {
    const where = errorHost(failure.error);
    if (!cli.dryRun) {
      const p = writeErrorLog(dir, { error: failure.error, phase: failure.phase, host: where, logTail: log.tail(300) });
      manifest?.finish(failure.error instanceof InterruptedError ? 'interrupted' : 'failed');
      log.error(
        `run failed in phase ${failure.phase}${where ? ` on ${where}` : ''} after ${formatDuration(Date.now() - t0)}; details in ${p}`,
      );
      log.info(`results (partial) in ${dir}`);
    }
    return failure.error instanceof InterruptedError ? 130 : 1;
  }
  manifest?.finish('ok');
  log.info(
    cli.dryRun
      ? `dry run done in ${formatDuration(Date.now() - t0)}`
      : `done in ${formatDuration(Date.now() - t0)}; results in ${dir}`,
  );
  return 0;
}

export type { RunContext, Logger };

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e) => {
      process.stderr.write(`fatal: ${(e as Error)?.stack ?? String(e)}\n`);
      process.exit(1);
    },
  );
}
