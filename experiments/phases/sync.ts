// Phase sync: bundle the remote programs (switch model, controller, stream server, load
// generator) and upload each host only what it runs, into REMOTE_PROJECT_DIR ({host} → name).
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { bundleRemote, plannedRemoteFiles } from '../../lib/hosts/bundle.ts';
import { remoteDir } from '../../lib/hosts/dirs.ts';
import type { Phase } from '../../lib/run/phases.ts';
import { switchDaemon } from '../../lib/modes/switch-daemon.ts';
import { NETTOOL } from '../../lib/nettool/index.ts';
import { workloadFor } from '../workloads/index.ts';

/** tofino or a server. */
type Target = string;

/**
 * Files each host needs from dist/remote: programs by role (the switch daemon's bundle, if it has
 * one), assets (proto, bf-rt.json, conf/) on the switch.
 */
export function filesFor(
  host: Target,
  switchBundle: string | undefined,
  available: string[],
  bundles: readonly string[],
): string[] {
  const isAsset = (f: string) => f.endsWith('.proto') || f.endsWith('.bf-rt.json') || f === 'conf';
  if (host === 'tofino') {
    return available.filter((f) => f === 'controller.mjs' || f === switchBundle || isAsset(f) || f === NETTOOL);
  }
  return available.filter((f) => bundles.includes(f) || f === NETTOOL);
}

export const phase: Phase = {
  name: 'sync',
  description: 'bundle the remote programs and upload them to the switch and every server (in parallel)',
  hosts: (ctx) => ['local', 'tofino', ...ctx.config.SERVERS],
  reads: [],
  writes: ['remoteDirs'],
  async run(ctx) {
    const switchBundle = switchDaemon({ config: ctx.config, dir: remoteDir(ctx, 'tofino'), projectDir: ctx.projectDir }).bundle;
    const bundles = workloadFor(ctx.config).bundles;
    const required = ['controller.mjs', ...bundles, NETTOOL, ...(switchBundle ? [switchBundle] : [])];
    const dist = ctx.dryRun
      ? join(ctx.projectDir, 'dist', 'remote')
      : await bundleRemote(ctx.projectDir, { require: required, log: (m) => ctx.log.step('sync', m) });
    // a dry run builds nothing: it plans with what a bundle run would put in dist/remote
    const available = ctx.dryRun
      ? await plannedRemoteFiles(ctx.projectDir)
      : existsSync(dist)
        ? readdirSync(dist).filter((f) => !f.startsWith('.'))
        : required;
    const dirs: Record<string, string> = {};
    await Promise.all(
      ['tofino', ...ctx.config.SERVERS].map(async (h) => {
        const host = ctx.host(h);
        const dir = remoteDir(ctx, h);
        dirs[h] = dir;
        await ctx.on(h)`mkdir -p ${dir}`;
        const files = filesFor(h, switchBundle, available, bundles);
        for (const f of files) {
          const src = join(dist, f);
          await host.upload(src, `${dir}/${f}`); // a file, or a directory (conf/)
        }
        ctx.log.step('sync', `${h}: ${files.join(', ')} → ${dir}`);
      }),
    );
    ctx.state.set('remoteDirs', dirs);
  },
};
