// Phase switchd: the switch daemon serving BF Runtime gRPC, as the mode's record describes it
// (lib/modes/switch-daemon.ts: local → switch model, hw → bf_switchd). One this project recorded
// is reused; one it did not start (a bf_switchd of `make switch`) is adopted — never stopped, and
// not fresh; otherwise what the daemon needs is checked, it is started and awaited. A started
// daemon is "fresh": the controller must then reconnect.
import { programForArch } from '../../p4/assets.ts';
import { probePort, waitForPort } from '../../lib/run/health.ts';
import { netToolPath } from '../../lib/nettool/index.ts';
import { daemonFingerprint, recordedDaemon, startDaemon, stopDaemon } from '../../lib/hosts/daemons.ts';
import type { Phase, RunContext } from '../../lib/run/phases.ts';
import { switchDaemon, type SwitchDaemon } from '../../lib/modes/switch-daemon.ts';
import { remoteDir } from '../../lib/hosts/dirs.ts';

function splitHostPort(hp: string): { host: string; port: number } {
  const i = hp.lastIndexOf(':');
  const port = Number(hp.slice(i + 1));
  if (i <= 0 || !Number.isInteger(port)) throw new Error(`BFRT_GRPC_ADDR ${JSON.stringify(hp)}: expected HOST:PORT`);
  return { host: hp.slice(0, i), port };
}

/** The daemon cannot start: every missing piece, each with what supplies it. */
export class SwitchdStartError extends Error {
  constructor(
    readonly host: string,
    readonly daemon: string,
    readonly problems: string[],
  ) {
    super(`[${host}] cannot start ${daemon}:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'SwitchdStartError';
  }
}

/** Start (or reuse, or adopt) `sd` on the switch; the phase body, with the daemon record given (tests). */
export async function ensureSwitchDaemon(
  ctx: RunContext,
  sd: SwitchDaemon,
): Promise<{ pid: number; fresh: boolean; adopted: boolean }> {
  const c = ctx.config;
  const tofino = ctx.host('tofino');
  const dir = remoteDir(ctx, 'tofino');
  const { host: gHost, port: gPort } = splitHostPort(c.BFRT_GRPC_ADDR);
  const tool = netToolPath(ctx.config, 'tofino');
  const grpc = (timeoutMs: number) =>
    waitForPort(tofino, gPort, {
      address: gHost,
      timeoutMs,
      intervalMs: sd.readyIntervalMs,
      log: ctx.log,
      dryRun: ctx.dryRun,
      tool,
    });

  const own = await recordedDaemon(tofino, dir, sd.name);
  const wanted = daemonFingerprint({ command: sd.command, env: sd.env, cwd: dir });
  if (own && own.fingerprint === wanted) {
    ctx.log.step('switchd', `${sd.name} already runs (pid ${own.pid}, started by an earlier run with these settings: reused)`);
    await grpc(10_000);
    return { pid: own.pid, fresh: false, adopted: false };
  }
  if (own) {
    // e.g. the previous sweep point ran another program, ARCH or port set
    ctx.log.step(
      'switchd',
      `${sd.name} pid ${own.pid} was started with other settings (fingerprint ${own.fingerprint || 'not recorded'}, now ${wanted}): restarting it`,
    );
    await stopDaemon(tofino, dir, sd.name);
  }
  const foreign = await sd.foreign(tofino);
  if (foreign.length) {
    const f = foreign[0];
    const program = programForArch(c.ARCH);
    // preflight refuses this already; --phase switchd alone must not adopt it either
    if (!f.cmdline.includes(program)) {
      throw new SwitchdStartError(tofino.name, sd.name, [
        `a ${sd.name} this project did not start runs (pid ${f.pid}: ${f.cmdline}) and does not name ${program} (ARCH=${c.ARCH}); a second one cannot take the device: stop it (npx tsx experiments/clean.ts --foreign)`,
      ]);
    }
    ctx.log.warn(
      `switchd: a ${sd.name} this project did not start runs on tofino (pid ${f.pid}: ${f.cmdline}); adopting it instead of starting a second one — ` +
        'it is not stopped by p4cf, and the controller reconnects only if it does not answer',
    );
    // it may itself still be coming up
    await grpc(sd.readyTimeoutMs);
    return { pid: f.pid, fresh: false, adopted: true };
  }
  const problems = await sd.startProblems(tofino);
  if (problems.length && !ctx.dryRun) throw new SwitchdStartError(tofino.name, sd.name, problems);
  const pid = await startDaemon(
    tofino,
    {
      name: sd.name,
      dir,
      cwd: dir,
      command: sd.command,
      env: sd.env,
      outlivesRun: sd.outlivesRun,
      ready: {
        what: `TCP ${gHost}:${gPort} open`,
        timeoutMs: sd.readyTimeoutMs,
        intervalMs: sd.readyIntervalMs,
        probe: () => probePort(tofino, gPort, gHost, { tool }),
      },
    },
    ctx,
  );
  ctx.log.step('switchd', `started ${sd.name} (pid ${pid})`);
  return { pid, fresh: true, adopted: false };
}

export const phase: Phase = {
  name: 'switchd',
  description: 'start the switch daemon (local: switch model; hw: bf_switchd) unless it runs, and wait for its gRPC port',
  hosts: () => ['tofino'],
  reads: [],
  writes: ['switchdFresh', 'switchdPid'],
  async run(ctx) {
    const sd = switchDaemon({ config: ctx.config, dir: remoteDir(ctx, 'tofino'), projectDir: ctx.projectDir });
    const r = await ensureSwitchDaemon(ctx, sd);
    ctx.state.set('switchdFresh', r.fresh);
    ctx.state.set('switchdPid', r.pid);
  },
};
