// Phase controller: the controller's config JSON (generated from this config, or CONTROLLER_CONFIG)
// goes into the run folder and to the switch; the controller is (re)started when switchd is
// fresh (its gRPC channel went stale) or it does not answer 200; then /reinitialize programs
// every table and /deleteClientSnat selects same-IP mode.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { controllerConfigFromP4cf } from '../../controller/config-from-p4cf.ts';
import { localPath } from '../../lib/config/load.ts';
import { controllerFor } from '../../lib/switch/controller-client.ts';
import { startDaemon, stopDaemon } from '../../lib/hosts/daemons.ts';
import type { Phase, RunContext } from '../../lib/run/phases.ts';
import { sh } from '../../lib/hosts/quote.ts';
import { remoteDir } from '../../lib/hosts/dirs.ts';
import { netToolPath } from '../../lib/nettool/index.ts';
import { probePort } from '../../lib/run/health.ts';

export const CONTROLLER_NAME = 'controller';
const NODE_MAJOR_NEEDED = 20;

function parseNodeMajor(versionText: string): number | undefined {
  const m = versionText.trim().match(/^v?(\d+)\./);
  return m ? Number(m[1]) : undefined;
}

async function checkNode(ctx: RunContext): Promise<void> {
  const r = await ctx.onTofino`node --version`.nothrow().dryRun(`v${NODE_MAJOR_NEEDED}.0.0`);
  const major = parseNodeMajor(r.stdout);
  if (!r.ok || major === undefined) {
    throw new Error(
      `[tofino] node is not installed (or not in PATH) on the switch: the controller needs Node.js >= ${NODE_MAJOR_NEEDED} (${(r.stderr || r.stdout).trim() || `exit ${r.exitCode}`})`,
    );
  }
  if (major < NODE_MAJOR_NEEDED)
    throw new Error(
      `[tofino] node ${r.stdout.trim()} on the switch is too old: the controller needs Node.js >= ${NODE_MAJOR_NEEDED}`,
    );
}

export const phase: Phase = {
  name: 'controller',
  description: 'upload the controller config, (re)start the controller if needed, reinitialize the tables (same-IP mode)',
  hosts: () => ['tofino'],
  reads: ['switchdFresh'],
  writes: ['controllerPid'],
  async run(ctx) {
    const c = ctx.config;
    const tofino = ctx.host('tofino');
    const dir = remoteDir(ctx, 'tofino');
    if (c.TESTBED === 'hw') await checkNode(ctx);

    const json = c.CONTROLLER_CONFIG
      ? readFileSync(localPath(ctx.projectDir, c.CONTROLLER_CONFIG), 'utf8')
      : JSON.stringify(controllerConfigFromP4cf(c), null, 2) + '\n';
    const localCfg = join(ctx.dir, 'controller_config.json');
    if (!ctx.dryRun) writeFileSync(localCfg, json);
    const remoteCfg = `${dir}/controller_config.json`;
    await tofino.upload(localCfg, remoteCfg);

    const ctl = controllerFor(ctx);
    const fresh = ctx.state.get('switchdFresh') === true;
    // a fresh switchd restarts the controller anyway: no probe (a probe of a dead controller can cost its timeout)
    const probe = fresh ? { status: 0 } : await ctl.health();
    if (!fresh && probe.status === 200) {
      ctx.log.step('controller', `controller answers 200 at ${ctl.url}; keeping it`);
    } else {
      ctx.log.step(
        'controller',
        fresh
          ? 'switchd is fresh: (re)starting the controller'
          : `controller probe answered ${probe.status || 'nothing'}: (re)starting it`,
      );
      const old = await stopDaemon(tofino, dir, CONTROLLER_NAME);
      if (old) ctx.log.step('controller', `stopped the previous controller (pid ${old})`);
      const tokenFile = `${dir}/controller.token`;
      // the token travels on stdin into a 0600 file, never on a command line
      await ctx.onTofino({ input: c.CONTROLLER_TOKEN + '\n' })`umask 077 && cat > ${tokenFile}`;
      const pid = await startDaemon(
        tofino,
        {
          name: CONTROLLER_NAME,
          dir,
          cwd: dir,
          outlivesRun: false,
          command: sh`exec node ${`${dir}/controller.mjs`} --config ${remoteCfg} --listen ${c.CONTROLLER_LISTEN} --port ${c.CONTROLLER_PORT} --token-file ${tokenFile} --grpc ${c.BFRT_GRPC_ADDR} --arch ${c.ARCH}`,
          ready: {
            what: `controller /health 200 at ${ctl.url}`,
            timeoutMs: 30_000,
            intervalMs: 250,
            probe: async () => {
              // the port first, on the switch: a request through the forward to a port not yet open can hang for its timeout
              const port = await probePort(tofino, c.CONTROLLER_PORT, c.CONTROLLER_LISTEN, { tool: netToolPath(c, 'tofino') });
              if (!port.ok && !ctx.dryRun) return { ok: false, state: `port ${c.CONTROLLER_PORT}: ${port.state}` };
              const h = await ctl.health(2000);
              return {
                ok: h.status === 200,
                state: h.status ? `HTTP ${h.status} ${JSON.stringify(h.body).slice(0, 200)}` : 'no answer',
              };
            },
          },
        },
        ctx,
      );
      ctx.state.set('controllerPid', pid);
    }
    const re = await ctl.call('POST', '/reinitialize', {}, { timeoutMs: 30_000 });
    ctx.log.step('controller', `POST /reinitialize → ${re.status} (${re.ms.toFixed(0)} ms)`);
    if (c.MIGRATION_MODE === 'vip') {
      // the replies' source must become the VIP: client_snat stays
      ctx.log.step(
        'controller',
        `MIGRATION_MODE=vip: client_snat kept (replies from port ${c.SIGNALING_PORT} leave with source ${c.VIP})`,
      );
      return;
    }
    const ds = await ctl.call('POST', '/deleteClientSnat', {});
    ctx.log.step('controller', `POST /deleteClientSnat → ${ds.status} (${ds.ms.toFixed(0)} ms)`);
  },
};
