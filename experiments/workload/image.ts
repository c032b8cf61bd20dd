// The server image, built by this project on the server host without any registry: a rootfs with
// the host's own `node` binary and the libraries `ldd` lists, the bundled stream server, a minimal
// /etc/passwd, imported with `podman import`. Works on any Linux host with podman and node.
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sh } from '../../lib/hosts/quote.ts';
import type { Host } from '../../lib/hosts/types.ts';

export const SOURCE_HASH_LABEL = 'p4cf.source-hash';
export const IMAGE_NODE = '/usr/local/bin/node';
export const IMAGE_APP = '/app/stream-server.mjs';
// V8 flags of the server process. Every heap page the server has touched is in each checkpoint, and
// V8 grows its young generation (doubling, up to 2 × 16 MB on 64-bit) each time as many bytes have
// survived scavenges as it holds, which a server streaming to 64 clients reaches within minutes:
// the checkpoint grew 19 → 51 MB over 100 migrations and the restore time with it (issue 12 item 6).
// A 1 MB semi-space holds the young generation at 2 MB (the server allocates little that lives
// long); --optimize-for-size lowers V8's old-generation growth steps (measured: 2-3 MB less per
// checkpoint over 40 migrations with 64 connections).
export const IMAGE_NODE_FLAGS = ['--max-semi-space-size=1', '--optimize-for-size'];

export interface BuildImageOptions {
  image: string; // tag, e.g. localhost/p4cf-stream-server
  bundleFile: string; // stream-server.mjs on this machine
  workDir: string; // scratch folder on the host (removed afterwards)
  podman?: string; // command prefix, e.g. "nsenter --net=/run/netns/x podman"; default podman
  log?: (msg: string) => void;
  /** Dry run: host.exec only prints and answers placeholders; plan the commands without checking their results. */
  dryRun?: boolean;
}

export interface ImageInfo {
  image: string;
  id: string;
  sourceHash: string;
  built: boolean;
}

const podmanCmd = (o: { podman?: string }) => o.podman ?? 'podman';

/** Paths `ldd` printed: "libx.so => /path (0x…)" and the loader "/lib64/ld-linux-x86-64.so.2 (0x…)". */
export function parseLdd(text: string): string[] {
  const paths = new Set<string>();
  for (const line of text.split('\n')) {
    const arrow = /=>\s*(\/\S+)/.exec(line);
    const bare = /^\s*(\/\S+)\s+\(0x/.exec(line);
    const p = arrow?.[1] ?? bare?.[1];
    if (p) paths.add(p);
    if (/=>\s*not found/.test(line)) throw new Error(`ldd: a library the binary links is missing on the host: ${line.trim()}`);
  }
  return [...paths];
}

/** What the image content depends on: the bundle, the node binary (version and architecture) and its flags. */
export async function imageSourceHash(bundleFile: string, nodeIdentity: string): Promise<string> {
  return createHash('sha256')
    .update(await readFile(bundleFile))
    .update('\0')
    .update(nodeIdentity)
    .update('\0')
    .update(IMAGE_NODE_FLAGS.join(' '))
    .digest('hex')
    .slice(0, 32);
}

// Placeholders a dry run plans with (what the real commands would print).
const DRY = { node: '<node binary>', identity: '<node version> <arch>', hash: '<source hash>', id: '<image id>' };

async function nodeIdentity(host: Host, dryRun?: boolean): Promise<{ path: string; identity: string }> {
  const r = await host.exec('p=$(command -v node) && readlink -f "$p" && node -p "process.version + \' \' + process.arch"', {
    quiet: true,
    dryRunStdout: `${DRY.node}\n${DRY.identity}`,
  });
  const [path, identity] = r.stdout.trim().split('\n');
  if (!path?.startsWith('/') && !dryRun)
    throw new Error(`[${host.name}] node not found in PATH (needed to build the server image); got: ${JSON.stringify(r.stdout)}`);
  return { path, identity: identity ?? '' };
}

/** Best-effort removal of build/copy scratch (an image tar is node plus its libraries): a failure
 * does not fail the phase, but is said, so the space it holds is not a surprise. */
async function removeScratch(host: Host, rmCmd: string, log: (msg: string) => void): Promise<void> {
  const r = await host.exec(rmCmd, { quiet: true, allowFail: true });
  if (r.code !== 0)
    log(`[${host.name}] scratch left behind (${rmCmd}: ${r.stderr.trim() || `exit ${r.code}`}); remove it by hand`);
}

/** The image's id and source-hash label on `host`, or undefined when the image is absent. */
export async function inspectImage(
  host: Host,
  image: string,
  o: { podman?: string } = {},
): Promise<{ id: string; sourceHash: string } | undefined> {
  const format = `{{.Id}} {{index .Labels "${SOURCE_HASH_LABEL}"}}`;
  const r = await host.exec(`${podmanCmd(o)} image inspect --format ${sh`${format} ${image}`}`, { quiet: true, allowFail: true });
  if (r.code !== 0) return undefined;
  const [id, hash = ''] = r.stdout.trim().split(/\s+/);
  return id ? { id, sourceHash: hash === '<no' ? '' : hash } : undefined;
}

/**
 * After the tag moved to a new image: remove the one it named before (an image this project built,
 * now untagged), so every rebuild does not leave ~100 MB behind. One a container still uses stays
 * (podman refuses), and so does anything when nothing was replaced.
 */
export async function dropReplacedImage(
  host: Host,
  oldId: string | undefined,
  newId: string,
  o: { podman?: string; log?: (msg: string) => void; dryRun?: boolean } = {},
): Promise<void> {
  if (!oldId || oldId === newId || o.dryRun) return;
  const r = await host.exec(`${podmanCmd(o)} rmi ${sh`${oldId}`}`, { quiet: true, allowFail: true });
  o.log?.(
    r.code === 0
      ? `[${host.name}] removed the image it replaced (${oldId.slice(0, 12)})`
      : `[${host.name}] kept the image it replaced (${oldId.slice(0, 12)}): ${r.stderr.trim().split('\n').pop()}`,
  );
}

/** Builds (always) the server image on `host`. */
export async function buildServerImage(host: Host, o: BuildImageOptions): Promise<ImageInfo> {
  const log = o.log ?? (() => {});
  const node = await nodeIdentity(host, o.dryRun);
  const sourceHash = o.dryRun ? DRY.hash : await imageSourceHash(o.bundleFile, node.identity);
  const ldd = await host.exec(sh`ldd ${node.path}`, { quiet: true });
  const libs = parseLdd(ldd.stdout);
  const root = `${o.workDir}/rootfs`;
  const tar = `${o.workDir}/rootfs.tar`;
  log(`[${host.name}] building ${o.image} from ${node.path} (${node.identity}) with ${libs.length} libraries`);
  const script = [
    sh`rm -rf ${root} ${tar}`,
    sh`mkdir -p ${root}/usr/local/bin ${root}/app ${root}/etc ${root}/tmp ${root}/proc ${root}/sys ${root}/dev ${root}/root`,
    sh`chmod 1777 ${root}/tmp`,
    sh`cp -L ${node.path} ${root}${IMAGE_NODE}`,
    // Keep every library at the path the binary's loader expects (-L: copy symlink targets' content).
    ...libs.map((l) => sh`mkdir -p ${root}$(dirname ${l}) && cp -L ${l} ${root}${l}`),
    sh`printf '%s\n' 'root:x:0:0:root:/root:/bin/false' 'nobody:x:65534:65534:nobody:/nonexistent:/bin/false' > ${root}/etc/passwd`,
    sh`printf '%s\n' 'root:x:0:' 'nogroup:x:65534:' > ${root}/etc/group`,
  ].join(' && ');
  await host.exec(script, { quiet: true });
  await host.upload(o.bundleFile, `${root}${IMAGE_APP}`);
  await host.exec(sh`tar -C ${root} -cf ${tar} .`, { quiet: true });
  const changes = [
    `ENTRYPOINT ${JSON.stringify([IMAGE_NODE, ...IMAGE_NODE_FLAGS, IMAGE_APP]).replaceAll(',', ', ')}`,
    `LABEL ${SOURCE_HASH_LABEL}=${sourceHash}`,
    'EXPOSE 8080',
    'EXPOSE 8081',
    'WORKDIR /app',
  ];
  try {
    await host.exec(
      `${podmanCmd(o)} import --quiet ${changes.map((c) => sh`--change ${c}`).join(' ')} ${sh`${tar} ${o.image}`}`,
      { quiet: true, timeoutMs: 300_000 },
    );
  } finally {
    await removeScratch(host, sh`rm -rf ${root} ${tar}`, log);
  }
  const info = await inspectImage(host, o.image, o);
  if (o.dryRun) return { image: o.image, id: DRY.id, sourceHash, built: true };
  if (!info) throw new Error(`[${host.name}] podman import of ${o.image} reported success but the image is not there`);
  if (info.sourceHash !== sourceHash)
    throw new Error(`[${host.name}] ${o.image}: label ${SOURCE_HASH_LABEL}=${info.sourceHash}, expected ${sourceHash}`);
  log(`[${host.name}] built ${o.image} ${info.id.slice(0, 12)}`);
  return { image: o.image, id: info.id, sourceHash, built: true };
}

/** Builds the image unless it exists on `host` with the same source hash label. */
export async function ensureServerImage(host: Host, o: BuildImageOptions): Promise<ImageInfo> {
  const node = await nodeIdentity(host, o.dryRun);
  const sourceHash = o.dryRun ? DRY.hash : await imageSourceHash(o.bundleFile, node.identity);
  const have = await inspectImage(host, o.image, o);
  if (have && have.sourceHash === sourceHash) {
    o.log?.(
      `[${host.name}] ${o.image} ${have.id.slice(0, 12)} is up to date (source ${sourceHash.slice(0, 12)}); not rebuilding`,
    );
    return { image: o.image, id: have.id, sourceHash, built: false };
  }
  const built = await buildServerImage(host, o);
  await dropReplacedImage(host, have?.id, built.id, o);
  return built;
}

export interface EnsureOnOptions {
  podman?: string; // on both hosts
  sourceTmp?: string; // scratch on the source host, default /var/tmp
  targetTmp?: string; // scratch on the target host, default /var/tmp
  log?: (msg: string) => void;
  dryRun?: boolean;
}

/** Makes `image` present on `target` with the same image id as on `source`: save → transfer → load →
 * tag, skipped when the target already holds that id (then only the tag is ensured). */
export async function ensureImageOn(
  source: Host,
  target: Host,
  image: string,
  o: EnsureOnOptions = {},
): Promise<{ id: string; copied: boolean; bytes?: number }> {
  const log = o.log ?? (() => {});
  const found = await inspectImage(source, image, o);
  const src = o.dryRun ? { id: DRY.id } : found;
  if (!src) throw new Error(`[${source.name}] image ${image} does not exist; build it there first (images phase)`);
  const id = src.id;
  const tagOnTarget = async () => {
    const t = await inspectImage(target, image, o);
    if (t?.id === id) return;
    await target.exec(`${podmanCmd(o)} tag ${sh`${id} ${image}`}`, { quiet: true });
    await dropReplacedImage(target, t?.id, id, o);
  };
  const has = await target.exec(`${podmanCmd(o)} image inspect --format '{{.Id}}' ${sh`${id}`}`, {
    quiet: true,
    allowFail: true,
  });
  if (has.code === 0 && has.stdout.trim() === id) {
    await tagOnTarget();
    log(`[${target.name}] already has ${image} ${id.slice(0, 12)}`);
    return { id, copied: false };
  }
  const name = `p4cf-image-${id.slice(0, 12)}-${process.pid}.tar`;
  const srcTar = `${o.sourceTmp ?? '/var/tmp'}/${name}`;
  const dstTar = `${o.targetTmp ?? '/var/tmp'}/${name}`;
  const localDir = o.dryRun ? join(tmpdir(), 'p4cf-image-<tmp>') : await mkdtemp(join(tmpdir(), 'p4cf-image-'));
  const localTar = join(localDir, name);
  try {
    await source.exec(`${podmanCmd(o)} save --quiet -o ${sh`${srcTar} ${image}`}`, { quiet: true, timeoutMs: 300_000 });
    await source.download(srcTar, localTar);
    await target.upload(localTar, dstTar);
    const sz = await target.exec(sh`stat -c %s ${dstTar}`, { quiet: true, dryRunStdout: '<size>' });
    await target.exec(`${podmanCmd(o)} load --quiet -i ${sh`${dstTar}`}`, { quiet: true, timeoutMs: 300_000 });
    await tagOnTarget();
    const t = await inspectImage(target, image, o);
    if (t?.id !== id && !o.dryRun)
      throw new Error(`[${target.name}] after load, ${image} has id ${t?.id ?? '(none)'}, expected ${id}`);
    log(`[${target.name}] loaded ${image} ${id.slice(0, 12)} from ${source.name} (${sz.stdout.trim()} bytes)`);
    return { id, copied: true, bytes: Number(sz.stdout.trim()) };
  } finally {
    await removeScratch(source, sh`rm -f ${srcTar}`, log);
    await removeScratch(target, sh`rm -f ${dstTar}`, log);
    await rm(localDir, { recursive: true, force: true });
  }
}
