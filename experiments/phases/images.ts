// Phase images: build the workload's server image on lakewood (skipped when an image with the same
// source hash is there) and make loveland hold the same image id (copied only when missing).
import { join } from 'node:path';
import { bundleRemote } from '../../lib/hosts/bundle.ts';
import { remoteDir } from '../../lib/hosts/dirs.ts';
import type { Phase } from '../../lib/run/phases.ts';
import { ensureImageOn } from '../workload/image.ts';
import { workloadFor } from '../workloads/index.ts';

export const phase: Phase = {
  name: 'images',
  description:
    "build the workload's server image on lakewood from the host's own binaries (no registry); same image id on loveland",
  hosts: () => ['lakewood', 'loveland'],
  reads: [],
  writes: ['serverImage'],
  async run(ctx) {
    const log = (m: string) => ctx.log.step('images', m);
    const w = workloadFor(ctx.config);
    const image = w.image(ctx.config);
    const dist = ctx.dryRun
      ? join(ctx.projectDir, 'dist', 'remote')
      : await bundleRemote(ctx.projectDir, { require: [...w.bundles], log });
    const lakewood = ctx.host('lakewood');
    const loveland = ctx.host('loveland');
    const info = await w.ensureImage(lakewood, image, {
      dist,
      workDir: `${remoteDir(ctx, 'lakewood')}/image-build`,
      log,
      dryRun: ctx.dryRun,
    });
    const copy = await ensureImageOn(lakewood, loveland, image, {
      sourceTmp: remoteDir(ctx, 'lakewood'),
      targetTmp: remoteDir(ctx, 'loveland'),
      log,
      dryRun: ctx.dryRun,
    });
    ctx.state.set('serverImage', {
      image,
      id: info.id,
      sourceHash: info.sourceHash,
      built: info.built,
      copiedToLoveland: copy.copied,
    });
    log(
      `${image} ${info.id.slice(0, 12)} on lakewood (${info.built ? 'built' : 'up to date'}) and loveland (${copy.copied ? 'copied' : 'present'})`,
    );
  },
};
