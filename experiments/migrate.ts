// One migration by hand: `npx tsx experiments/migrate.ts --direction SOURCE_TARGET (e.g. lakewood_loveland) [--resume RUN_DIR]`.
// Works on a testbed where the server container runs (e.g. while a run is paused, or with
// --resume of a run folder whose state.json says where the server is). Writes the timing files
// into the run folder (a new one unless --resume) and prints them.
import { join, resolve } from 'node:path';
import { existsSync } from 'node:fs';
import { createCleanup, writeErrorLog } from '../lib/run/cleanup.ts';
import { loadConfig, localPath } from '../lib/config/load.ts';
import { CONFIG_OPTIONS, configArgv } from '../lib/config/sources.ts';
import { cliArgs } from '../lib/run/cli.ts';
import { createContext } from '../lib/run/context.ts';
import { createLogger } from '../lib/run/log.ts';
import { endpoints, migrate, parseDirection } from '../lib/migration/migrate.ts';
import { createRunDir, openState } from '../lib/run/rundir.ts';

const { values, given } = cliArgs({
  command: 'npx tsx experiments/migrate.ts',
  summary: 'One migration by hand, on a testbed where the server container runs; writes and prints its timing files.',
  options: {
    direction: {
      type: 'string',
      arg: 'SOURCE_TARGET',
      required: true,
      help: 'which way to migrate: two of SERVERS, e.g. lakewood_loveland',
    },
    resume: { type: 'string', arg: 'RUN_DIR', help: 'write into this run folder (its state.json says where the server is)' },
    ...CONFIG_OPTIONS,
  },
});
const dirArg = values.direction;
const resumeArg = values.resume;

const log = createLogger();
const cleanup = createCleanup({ log });
let dir = '';
try {
  const loaded = loadConfig({ argv: configArgv(given) });
  const direction = parseDirection(loaded.config, dirArg);
  if (resumeArg) {
    dir = resolve(resumeArg);
    if (!existsSync(join(dir, 'state.json'))) throw new Error(`--resume ${resumeArg}: no state.json in ${dir}`);
  } else {
    dir = createRunDir(localPath(loaded.projectDir, loaded.config.RESULTS_DIR));
  }
  log.attachFile(join(dir, 'experiment.log'));
  const state = openState(join(dir, 'state.json'));
  if (!resumeArg) state.set('serverHost', endpoints(direction).source);
  const ctx = createContext({ loaded, dir, log, cleanup, state });
  const index = Number(state.get('migrationsDone') ?? 0) + 1;
  const t = await migrate(ctx, { direction, index });
  state.set('migrationsDone', index);
  log.info(`migration_timing_${index}.txt written to ${dir}: time_to_ready ${t?.time_to_ready_ms} ms`);
  await cleanup.runAll('end');
  await ctx.closeHosts();
} catch (e) {
  log.error((e as Error).message);
  await cleanup.runAll('error');
  if (dir) log.error(`error log: ${writeErrorLog(dir, { error: e, phase: 'migrate', logTail: log.tail(300) })}`);
  process.exit(1);
}
