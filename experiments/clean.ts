// Manual clean-up of a testbed (local or hardware) after an interrupted run:
//   npx tsx experiments/clean.ts [--config FILE] [--set KEY=VALUE]
// Same as the clean phase (server container, labelled containers/networks, shim, RST rule,
// checkpoint files, stale load generator/collector of the newest run) plus the switch model
// and controller processes this project recorded in PID files on the switch. Prints what it removed.
// A hardware bf_switchd is left running unless --switchd is given.
import { resolve } from 'node:path';
import { createCleanup } from '../lib/run/cleanup.ts';
import { CONFIG_OPTIONS, configArgv, loadConfig } from '../lib/config/load.ts';
import { cliArgs } from '../lib/run/cli.ts';
import { createContext } from '../lib/run/context.ts';
import { createLogger } from '../lib/run/log.ts';
import { killIfCmdline, runScript } from '../lib/server/infra.ts';
import { stopRecorded } from '../lib/hosts/daemons.ts';
import { openState } from '../lib/run/rundir.ts';
import { cleanServers, previousState, stalePids } from './phases/clean.ts';
import { remoteDir } from './phases/sync.ts';

const { values, given } = cliArgs({
  command: 'npx tsx experiments/clean.ts',
  summary: 'Removes what an interrupted run left on the testbed (local or hardware) and prints what it removed.',
  options: {
    switchd: { type: 'boolean', help: 'hardware: stop the recorded bf_switchd too (left running otherwise)' },
    ...CONFIG_OPTIONS,
  },
});
const withSwitchd = values.switchd;
const log = createLogger();
const cleanup = createCleanup({ log });
try {
  const loaded = loadConfig({ argv: configArgv(given) });
  const ctx = createContext({ loaded, dir: resolve(loaded.projectDir, loaded.config.RESULTS_DIR), log, cleanup, state: openState() });
  const say = (m: string) => log.info(m);
  const prev = previousState(resolve(loaded.projectDir, loaded.config.RESULTS_DIR), '');
  if (prev) {
    const p = stalePids(prev.state);
    for (const pid of p.lakewood) await runScript(ctx.host('lakewood'), killIfCmdline(pid, 'loadgen'), 'clean', say);
    for (const pid of p.local) await runScript(ctx.host('local'), killIfCmdline(pid, 'collector'), 'clean', say);
  }
  await cleanServers(ctx);
  const tofino = ctx.host('tofino');
  const dir = remoteDir(ctx, 'tofino');
  const names = ['controller', ...(loaded.config.TESTBED === 'local' ? ['switch-model'] : withSwitchd ? ['switchd'] : [])];
  for (const n of names) {
    const pid = await stopRecorded(tofino, dir, n);
    say(pid ? `stopped ${n} (pid ${pid}) on tofino` : `${n}: no recorded process running on tofino`);
  }
  await ctx.closeHosts();
  say('clean: done');
} catch (e) {
  log.error(`clean failed: ${(e as Error).message}`);
  process.exitCode = 1;
}
