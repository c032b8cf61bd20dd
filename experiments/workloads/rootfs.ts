// A server image from one binary of the host: a rootfs with the binary, the libraries `ldd` lists
// (at the paths its loader expects) and a minimal /etc/passwd, imported with `podman import` —
// no registry. The source hash label covers the binary's content and its library list, so the
// image is rebuilt exactly when the host's binary changed. (The stream image, built from `node`
// plus the bundled server, is experiments/workload/image.ts; both share its label and ldd parser.)
import { createHash } from 'node:crypto';
import { sh } from '../../lib/hosts/quote.ts';
import type { Host } from '../../lib/hosts/types.ts';
import { dropReplacedImage, inspectImage, parseLdd, SOURCE_HASH_LABEL } from '../workload/image.ts';

export interface BinaryImageOptions {
  image: string;
  /** Path of the binary on the host (symlinks followed for the content). */
  binary: string;
  /** Path inside the image; its basename is argv[0] (redis-server picks its mode from it). */
  as: string;
  expose?: number[];
  workDir: string;
  log?: (msg: string) => void;
  dryRun?: boolean;
}

const DRY = { hash: '<source hash>', id: '<image id>' };

async function sourceHash(host: Host, o: BinaryImageOptions): Promise<{ hash: string; libs: string[] }> {
  const sum = await host.exec(sh`sha256sum ${o.binary}`, { quiet: true, allowFail: true, dryRunStdout: `<sha256>  ${o.binary}` });
  if (sum.code !== 0 && !o.dryRun)
    throw new Error(`[${host.name}] ${o.binary} is not readable (needed to build ${o.image}): ${sum.stderr.trim()}`);
  const ldd = await host.exec(sh`ldd ${o.binary}`, { quiet: true });
  const libs = parseLdd(ldd.stdout);
  const hash = createHash('sha256')
    .update(sum.stdout.split(/\s/)[0])
    .update('\0')
    .update(libs.join('\n'))
    .update('\0')
    .update(o.as)
    .digest('hex')
    .slice(0, 32);
  return { hash: o.dryRun ? DRY.hash : hash, libs };
}

/** Builds the image unless `host` holds it with the same source hash label. */
export async function ensureBinaryImage(
  host: Host,
  o: BinaryImageOptions,
): Promise<{ id: string; sourceHash: string; built: boolean }> {
  const log = o.log ?? (() => {});
  const { hash, libs } = await sourceHash(host, o);
  const have = await inspectImage(host, o.image);
  if (have && have.sourceHash === hash && !o.dryRun) {
    log(`[${host.name}] ${o.image} ${have.id.slice(0, 12)} is up to date (source ${hash.slice(0, 12)}); not rebuilding`);
    return { id: have.id, sourceHash: hash, built: false };
  }
  const root = `${o.workDir}/rootfs`;
  const tar = `${o.workDir}/rootfs.tar`;
  log(`[${host.name}] building ${o.image} from ${o.binary} with ${libs.length} libraries`);
  const script = [
    sh`rm -rf ${root} ${tar}`,
    sh`mkdir -p ${root}$(dirname ${o.as}) ${root}/etc ${root}/tmp ${root}/proc ${root}/sys ${root}/dev ${root}/data`,
    sh`chmod 1777 ${root}/tmp`,
    sh`cp -L ${o.binary} ${root}${o.as}`,
    ...libs.map((l) => sh`mkdir -p ${root}$(dirname ${l}) && cp -L ${l} ${root}${l}`),
    sh`printf '%s\n' 'root:x:0:0:root:/root:/bin/false' 'nobody:x:65534:65534:nobody:/nonexistent:/bin/false' > ${root}/etc/passwd`,
    sh`printf '%s\n' 'root:x:0:' 'nogroup:x:65534:' > ${root}/etc/group`,
    sh`tar -C ${root} -cf ${tar} .`,
  ].join(' && ');
  const changes = [
    `ENTRYPOINT ["${o.as}"]`,
    `LABEL ${SOURCE_HASH_LABEL}=${hash}`,
    'WORKDIR /data',
    ...(o.expose ?? []).map((p) => `EXPOSE ${p}`),
  ];
  try {
    await host.exec(script, { quiet: true });
    await host.exec(`podman import --quiet ${changes.map((c) => sh`--change ${c}`).join(' ')} ${sh`${tar} ${o.image}`}`, {
      quiet: true,
      timeoutMs: 300_000,
    });
  } finally {
    await host.exec(sh`rm -rf ${root} ${tar}`, { quiet: true, allowFail: true });
  }
  if (o.dryRun) return { id: DRY.id, sourceHash: hash, built: true };
  const info = await inspectImage(host, o.image);
  if (!info) throw new Error(`[${host.name}] podman import of ${o.image} reported success but the image is not there`);
  if (info.sourceHash !== hash)
    throw new Error(`[${host.name}] ${o.image}: label ${SOURCE_HASH_LABEL}=${info.sourceHash}, expected ${hash}`);
  log(`[${host.name}] built ${o.image} ${info.id.slice(0, 12)}`);
  await dropReplacedImage(host, have?.id, info.id, { log });
  return { id: info.id, sourceHash: hash, built: true };
}
