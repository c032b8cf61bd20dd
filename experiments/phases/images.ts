// Phase images: build the workload's server image on the first server (skipped when an image with the
// same source hash is there) and make every other server hold the same image id (copied only when
// missing, to all of them at once).
import { join } from 'node:path';
import { bundleRemote } from '../../lib/hosts/bundle.ts';
import { remoteDir } from '../../lib/hosts/dirs.ts';
import type { Phase } from '../../lib/run/phases.ts';
import { ensureImageOn } from '../workload/image.ts';
import { workloadFor } from '../workloads/index.ts';

export const phase: Phase = {
  name: 'images',
  description:
    "build the workload's server image on the first server from the host's own binaries (no registry); same image id on the others",
  hosts: (ctx) => [...ctx.config.SERVERS],
  reads: [],
  writes: ['serverImage'],
  async run(ctx) {
    const log = (m: string) => ctx.log.step('images', m);
    const w = workloadFor(ctx.config);
    const image = w.image(ctx.config);
    const dist = ctx.dryRun
      ? join(ctx.projectDir, 'dist', 'remote')
      : await bundleRemote(ctx.projectDir, { require: [...w.bundles], log });
    const [first, ...others] = ctx.config.SERVERS;
    const source = ctx.host(first);
    const info = await w.ensureImage(source, image, {
      dist,
      workDir: `${remoteDir(ctx, first)}/image-build`,
      log,
      dryRun: ctx.dryRun,
    });
    const copies = await Promise.all(
      others.map(async (name) => {
        try {
          const copy = await ensureImageOn(source, ctx.host(name), image, {
            sourceTmp: remoteDir(ctx, first),
            targetTmp: remoteDir(ctx, name),
            log,
            dryRun: ctx.dryRun,
          });
          return { name, copied: copy.copied };
        } catch (e) {
          if (e instanceof Error && !e.message.includes(name)) e.message = `[${name}] image ${image} from ${first}: ${e.message}`;
          throw e;
        }
      }),
    );
    ctx.state.set('serverImage', {
      image,
      id: info.id,
      sourceHash: info.sourceHash,
      built: info.built,
      copiedTo: copies.filter((x) => x.copied).map((x) => x.name),
    });
    const rest = copies.map((x) => `${x.name} (${x.copied ? 'copied' : 'present'})`);
    log(
      `${image} ${info.id.slice(0, 12)} on ${first} (${info.built ? 'built' : 'up to date'}) and ${rest.length > 1 ? `${rest.slice(0, -1).join(', ')} and ${rest[rest.length - 1]}` : rest[0]}`,
    );
  },
};
