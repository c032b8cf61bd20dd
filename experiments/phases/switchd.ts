// Phase switchd: the switch daemon serving BF Runtime gRPC. Local testbed: the switch model
// (dist/remote/switch-model.mjs) in the tofino namespace, its ports mapped to the testbed's
// veths. Hardware: bf_switchd from the SDE. A daemon already running that this project
// recorded is reused; one started now is "fresh" (the controller must then reconnect).
import { programForArch } from '../../p4/assets.ts';
import { waitForPort } from '../../lib/run/health.ts';
import { netToolPath } from '../../lib/nettool/index.ts';
import { recordedPid, startDetached, writePidFile } from '../../lib/hosts/daemons.ts';
import type { Phase, RunContext } from '../../lib/run/phases.ts';
import { sh } from '../../lib/hosts/remote.ts';
import { sdeEnv, switchdCommand } from '../../lib/modes/hw/sde.ts';
import { switchPortIfaces } from '../../lib/modes/local/testbed.ts';
import { remoteDir } from './sync.ts';

export const MODEL_NAME = 'switch-model';
export const SWITCHD_NAME = 'switchd';

export function splitHostPort(hp: string): { host: string; port: number } {
  const i = hp.lastIndexOf(':');
  const port = Number(hp.slice(i + 1));
  if (i <= 0 || !Number.isInteger(port)) throw new Error(`BFRT_GRPC_ADDR ${JSON.stringify(hp)}: expected HOST:PORT`);
  return { host: hp.slice(0, i), port };
}

/** The command line that starts the switch model on the local testbed. */
export function modelCommand(ctx: Pick<RunContext, 'config'>, dir: string): string {
  const c = ctx.config;
  const ports = Object.entries(switchPortIfaces(c)).flatMap(([dev, ifname]) => ['--port', `${dev}=${ifname}`]);
  return sh`exec node ${`${dir}/switch-model.mjs`} --listen ${c.BFRT_GRPC_ADDR} --program ${programForArch(c.ARCH)} ${ports}`;
}

export const phase: Phase = {
  name: 'switchd',
  description: 'start the switch daemon (local: switch model; hw: bf_switchd) unless it runs, and wait for its gRPC port',
  hosts: () => ['tofino'],
  reads: [],
  writes: ['switchdFresh', 'switchdPid', 'switchdStartedByRun'],
  async run(ctx) {
    const c = ctx.config;
    const tofino = ctx.host('tofino');
    const dir = remoteDir(ctx, 'tofino');
    const { host: gHost, port: gPort } = splitHostPort(c.BFRT_GRPC_ADDR);
    const name = c.TESTBED === 'local' ? MODEL_NAME : SWITCHD_NAME;
    const running = await recordedPid(tofino, dir, name);
    if (running) {
      ctx.log.step('switchd', `${name} already runs (pid ${running}, not started by this run: left running)`);
      ctx.state.set('switchdFresh', false);
      ctx.state.set('switchdStartedByRun', false);
      ctx.state.set('switchdPid', running);
      await waitForPort(tofino, gPort, { address: gHost, timeoutMs: 10_000, log: ctx.log, dryRun: ctx.dryRun, tool: netToolPath(c, 'tofino') });
      return;
    }
    let pid: number;
    if (c.TESTBED === 'local') {
      // A run-scoped process: its undo stops it at the end of the run (restart costs ~1 s).
      const bg = await tofino.background(modelCommand(ctx, dir), { name: MODEL_NAME, logFile: `${dir}/${MODEL_NAME}.log`, cwd: dir });
      pid = bg.pid;
      await writePidFile(tofino, dir, MODEL_NAME, pid);
      ctx.cleanup.add(`remove ${MODEL_NAME} pid file on tofino`, () => tofino.exec(sh`rm -f ${`${dir}/${MODEL_NAME}.pid`}`, { quiet: true, allowFail: true }).then(() => {}));
    } else {
      // bf_switchd takes minutes to come up and owns the ports: it outlives the run, as on the original testbed.
      pid = await startDetached(tofino, dir, SWITCHD_NAME, switchdCommand(c, { projectDir: dir }), sdeEnv(c));
    }
    ctx.log.step('switchd', `started ${name} (pid ${pid})`);
    ctx.state.set('switchdFresh', true);
    ctx.state.set('switchdStartedByRun', true);
    ctx.state.set('switchdPid', pid);
    try {
      await waitForPort(tofino, gPort, {
        address: gHost, log: ctx.log, dryRun: ctx.dryRun, tool: netToolPath(c, 'tofino'),
        timeoutMs: c.TESTBED === 'local' ? 30_000 : c.SWITCHD_READY_TIMEOUT, intervalMs: c.TESTBED === 'local' ? 200 : 1000,
      });
    } catch (e) {
      const log = await tofino.exec(sh`tail -n 20 ${`${dir}/${name}.log`}`, { quiet: true, allowFail: true });
      throw new Error(`${(e as Error).message}\n${name} log (last lines):\n${log.stdout}`);
    }
  },
};
