// Manual clean-up of a testbed (local or hardware) after an interrupted run:
//   npx tsx experiments/clean.ts [--config FILE] [--set KEY=VALUE]
// Same as the clean phase (server container, labelled containers/networks, shim, RST rule,
// checkpoint files, stale load generator/collector of the newest run) plus the switch model
// and controller processes this project recorded in PID files on the switch. Prints what it removed.
// A hardware bf_switchd is left running unless --switchd is given. --foreign first lists what
// other tools left (lib/modes/hw/leftovers.ts: a container holding H2_IP, a listener on the
// controller port, a bf_switchd, a macvlan shim) and removes it once confirmed (or with --yes).
import { resolve } from 'node:path';
import { createCleanup } from '../lib/run/cleanup.ts';
import { loadConfig } from '../lib/config/load.ts';
import { CONFIG_OPTIONS, configArgv } from '../lib/config/sources.ts';
import { cliArgs } from '../lib/run/cli.ts';
import { createContext } from '../lib/run/context.ts';
import { createLogger } from '../lib/run/log.ts';
import { stopDaemon } from '../lib/hosts/daemons.ts';
import { switchDaemon } from '../lib/modes/switch-daemon.ts';
import { MODEL_NFT_TABLE } from '../p4/model/nft.ts';
import { CONTROLLER_NAME } from './phases/controller.ts';
import { openState } from '../lib/run/rundir.ts';
import { removeLeftovers } from '../lib/modes/hw/leftovers.ts';
import { createInterface } from 'node:readline/promises';

async function askTty(q: string): Promise<boolean> {
  const rl = createInterface({ input: process.stdin, output: process.stdout });
  try {
    return /^y(es)?$/i.test((await rl.question(q)).trim());
  } finally {
    rl.close();
  }
}
import { cleanServers, killStale, previousState } from './phases/clean.ts';
import { remoteDir } from '../lib/hosts/dirs.ts';

const { values, given } = cliArgs({
  command: 'npx tsx experiments/clean.ts',
  summary: 'Removes what an interrupted run left on the testbed (local or hardware) and prints what it removed.',
  options: {
    switchd: { type: 'boolean', help: 'hardware: stop the recorded bf_switchd too (left running otherwise)' },
    foreign: {
      type: 'boolean',
      help: 'first list what other tools left (a container holding H2_IP, a listener on the controller port, a bf_switchd, a macvlan shim) and remove it once confirmed',
    },
    yes: { type: 'boolean', help: 'with --foreign: remove without asking (needed without a terminal)' },
    ...CONFIG_OPTIONS,
  },
});
const withSwitchd = values.switchd;
const foreign = values.foreign;
const yes = values.yes;
const log = createLogger();
const cleanup = createCleanup({ log });
let ctx: ReturnType<typeof createContext> | undefined;
try {
  const loaded = loadConfig({ argv: configArgv(given) });
  ctx = createContext({ loaded, dir: resolve(loaded.projectDir, loaded.config.RESULTS_DIR), log, cleanup, state: openState() });
  const say = (m: string) => log.info(m);
  if (foreign)
    await removeLeftovers(ctx, { yes, includeAdoptable: withSwitchd, say, ask: process.stdin.isTTY ? askTty : undefined });
  const prev = previousState(resolve(loaded.projectDir, loaded.config.RESULTS_DIR), '');
  if (prev) await killStale(ctx, prev.state, say);
  await cleanServers(ctx, (m) => log.step('clean', m));
  const tofino = ctx.host('tofino');
  const dir = remoteDir(ctx, 'tofino');
  // a switch daemon that outlives runs (hardware bf_switchd) is stopped only when asked
  const sd = switchDaemon({ config: loaded.config, dir, projectDir: loaded.projectDir });
  const names = [CONTROLLER_NAME, ...(!sd.outlivesRun || withSwitchd ? [sd.name] : [])];
  for (const n of names) {
    const pid = await stopDaemon(tofino, dir, n);
    say(pid ? `stopped ${n} (pid ${pid}) on tofino` : `${n}: no recorded process running on tofino`);
  }
  // A crashed (SIGKILLed) switch model leaves its nftables table forwarding on the switch's ports.
  if (loaded.config.TESTBED === 'local') {
    const t = MODEL_NFT_TABLE;
    const r = await tofino.exec(
      `if nft list table netdev ${t} >/dev/null 2>&1; then nft delete table netdev ${t} && echo removed; fi`,
      { quiet: true },
    );
    say(
      r.stdout.includes('removed')
        ? `removed the switch model's nft table netdev ${t} on tofino`
        : `nft table netdev ${t}: none on tofino`,
    );
  }
  say('clean: done');
} catch (e) {
  log.error(`clean failed: ${(e as Error).message}`);
  process.exitCode = 1;
} finally {
  await ctx?.closeHosts();
}
