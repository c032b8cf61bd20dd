// Phase images: build the stream-server image on lakewood (skipped when an image with the same
// source hash is there) and make loveland hold the same image id (copied only when missing).
import { join } from 'node:path';
import { bundleRemote } from '../../lib/hosts/bundle.ts';
import { remoteDir } from '../../lib/hosts/dirs.ts';
import type { Phase } from '../../lib/run/phases.ts';
import { ensureImageOn, ensureServerImage } from '../workload/image.ts';

export const phase: Phase = {
  name: 'images',
  description: 'build the server image on lakewood from its node binary and the bundled server; same image id on loveland',
  hosts: () => ['lakewood', 'loveland'],
  reads: [],
  writes: ['serverImage'],
  async run(ctx) {
    const log = (m: string) => ctx.log.step('images', m);
    const image = ctx.config.SERVER_IMAGE;
    const dist = ctx.dryRun ? join(ctx.projectDir, 'dist', 'remote')
      : await bundleRemote(ctx.projectDir, { require: ['stream-server.mjs'], log });
    const lakewood = ctx.host('lakewood');
    const loveland = ctx.host('loveland');
    const info = await ensureServerImage(lakewood, {
      image, bundleFile: join(dist, 'stream-server.mjs'),
      workDir: `${remoteDir(ctx, 'lakewood')}/image-build`, log, dryRun: ctx.dryRun,
    });
    const copy = await ensureImageOn(lakewood, loveland, image, {
      sourceTmp: remoteDir(ctx, 'lakewood'),
      targetTmp: remoteDir(ctx, 'loveland'),
      log, dryRun: ctx.dryRun,
    });
    ctx.state.set('serverImage', { image, id: info.id, sourceHash: info.sourceHash, built: info.built, copiedToLoveland: copy.copied });
    log(`${image} ${info.id.slice(0, 12)} on lakewood (${info.built ? 'built' : 'up to date'}) and loveland (${copy.copied ? 'copied' : 'present'})`);
  },
};
