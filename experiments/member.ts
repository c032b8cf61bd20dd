// The load balancer's member step by hand, during a run (vip mode):
//   npx tsx experiments/member.ts --ip 192.168.12.22 --active false   deactivate one selector member
//   npx tsx experiments/member.ts --ip 192.168.12.22 --active true    re-activate it
//   npx tsx experiments/member.ts --experiment --resume RUN_DIR       the whole member experiment
// The first two call the controller's /setMemberStatus and print the connection split counted on
// the backends; --experiment runs what the migrate phase runs with BACKENDS ≥ 2 and writes
// backends.json into the run folder (--resume, so it knows where the server container is).
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { loadConfig, localPath } from '../lib/config/load.ts';
import { CONFIG_OPTIONS, configArgv } from '../lib/config/sources.ts';
import { createCleanup, writeErrorLog } from '../lib/run/cleanup.ts';
import { cliArgs } from '../lib/run/cli.ts';
import { createContext } from '../lib/run/context.ts';
import { createLogger } from '../lib/run/log.ts';
import { createRunDir, openState } from '../lib/run/rundir.ts';
import { connectionSplit, memberExperiment } from '../lib/server/balance.ts';
import { controllerFor } from '../lib/switch/controller-client.ts';

const { values, given } = cliArgs({
  command: 'npx tsx experiments/member.ts',
  summary: 'Deactivate or re-activate a selector member (/setMemberStatus), or run the member experiment, during a vip-mode run.',
  options: {
    ip: { type: 'string', arg: 'IPV4', help: "the member's backend address" },
    active: { type: 'string', arg: 'true|false', help: "the member's new status" },
    experiment: {
      type: 'boolean',
      help: 'deactivate and re-activate the last backend, measuring the split (writes backends.json)',
    },
    resume: {
      type: 'string',
      arg: 'RUN_DIR',
      help: 'the run folder of the running experiment (its state.json says where the server is)',
    },
    ...CONFIG_OPTIONS,
  },
});

const log = createLogger();
const cleanup = createCleanup({ log });
let dir = '';
try {
  if (!values.experiment && (!values.ip || (values.active !== 'true' && values.active !== 'false'))) {
    throw new Error(
      `give --ip IPV4 --active true|false (got --ip ${JSON.stringify(values.ip ?? '')} --active ${JSON.stringify(values.active ?? '')}), or --experiment`,
    );
  }
  const loaded = loadConfig({ argv: configArgv(given) });
  if (loaded.config.MIGRATION_MODE !== 'vip')
    throw new Error(
      `MIGRATION_MODE=${loaded.config.MIGRATION_MODE} (from ${loaded.origins.MIGRATION_MODE}): selector members carry traffic only in vip mode`,
    );
  if (values.resume) {
    dir = resolve(values.resume);
    if (!existsSync(join(dir, 'state.json'))) throw new Error(`--resume ${values.resume}: no state.json in ${dir}`);
  } else {
    dir = createRunDir(localPath(loaded.projectDir, loaded.config.RESULTS_DIR));
  }
  const state = openState(join(dir, 'state.json'));
  const ctx = createContext({ loaded, dir, log, cleanup, state });
  if (values.experiment) {
    const r = await memberExperiment(ctx);
    if (r) log.info(`backends.json written to ${dir}`);
  } else {
    const res = await controllerFor(ctx).call('POST', '/setMemberStatus', { ipv4: values.ip, active: values.active === 'true' });
    log.info(`/setMemberStatus ${values.ip} active=${values.active} → ${res.status} (${res.ms.toFixed(1)} ms)`);
    const s = await connectionSplit(ctx, 'now');
    log.info(`connection split: ${s.backends.map((b) => `${b.ip} ${b.established ?? '?'}`).join(', ')}`);
  }
  await cleanup.runAll('end');
  await ctx.closeHosts();
} catch (e) {
  log.error((e as Error).message);
  await cleanup.runAll('error');
  if (dir) log.error(`error log: ${writeErrorLog(dir, { error: e, phase: 'member', logTail: log.tail(300) })}`);
  process.exit(1);
}
