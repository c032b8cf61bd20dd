// One migration by hand: `npx tsx experiments/migrate.ts --direction lakewood_loveland|loveland_lakewood [--resume RUN_DIR]`.
// Works on a testbed where the server container runs (e.g. while a run is paused, or with
// --resume of a run folder whose state.json says where the server is). Writes the timing files
// into the run folder (a new one unless --resume) and prints them.
import { join, resolve } from 'node:path';
import { existsSync } from 'node:fs';
import { createCleanup, writeErrorLog } from '../lib/run/cleanup.ts';
import { loadConfig, localPath } from '../lib/config/load.ts';
import { createContext } from '../lib/run/context.ts';
import { createLogger } from '../lib/run/log.ts';
import { endpoints, migrate, parseDirection } from '../lib/migration/migrate.ts';
import { createRunDir, openState } from '../lib/run/rundir.ts';

const USAGE = 'usage: npx tsx experiments/migrate.ts --direction lakewood_loveland|loveland_lakewood [--resume RUN_DIR] [--config FILE] [--set KEY=VALUE]';
const argv = process.argv.slice(2);
const take = (flag: string): string | undefined => {
  const i = argv.indexOf(flag);
  if (i < 0) return undefined;
  const v = argv[i + 1];
  if (!v || v.startsWith('--')) { console.error(`${flag} needs a value\n${USAGE}`); process.exit(2); }
  argv.splice(i, 2);
  return v;
};
if (argv.includes('--help') || argv.includes('-h')) { console.log(USAGE); process.exit(0); }
const dirArg = take('--direction');
const resumeArg = take('--resume');
if (!dirArg) { console.error(`--direction is required\n${USAGE}`); process.exit(2); }

const log = createLogger();
const cleanup = createCleanup({ log });
let dir = '';
try {
  const direction = parseDirection(dirArg);
  const loaded = loadConfig({ argv });
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
