// Bundles the programs that run on remote hosts (switch model, controller, stream server, load
// generator, the p4cf-net probes and checkpoint stream) into dist/remote/*.mjs with esbuild, plus the data files they look up through
// p4/assets.ts, so a host needs nothing but `node`. Rebuilds only when an input changed.
import { build } from 'esbuild';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, readdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join, relative } from 'node:path';

export interface RemoteEntry {
  out: string;
  src: string;
}

export const REMOTE_ENTRIES: readonly RemoteEntry[] = [
  { out: 'switch-model.mjs', src: 'p4/model/main.ts' },
  { out: 'controller.mjs', src: 'controller/main.ts' },
  { out: 'stream-server.mjs', src: 'experiments/workload/server.ts' },
  { out: 'loadgen.mjs', src: 'experiments/workload/loadgen.ts' },
  { out: 'p4cf-net.mjs', src: 'lib/nettool/cli.ts' },
  { out: 'redis-client.mjs', src: 'experiments/workloads/redis/client.ts' },
];

export const REMOTE_DIST = join('dist', 'remote');
const CACHE_FILE = '.bundle-cache.json';

// ESM output, but bundled CommonJS dependencies (grpc-js, protobufjs, prom-client) call require().
const BANNER =
  "import { createRequire as __p4cfCreateRequire } from 'node:module'; const require = __p4cfCreateRequire(import.meta.url);";

export interface BundleOptions {
  /** Output names (e.g. 'loadgen.mjs') that must be built; a missing source for one of these throws. */
  require?: string[];
  /** Rebuild even when the inputs are unchanged. */
  force?: boolean;
  log?: (msg: string) => void;
}

export interface BundleResult {
  dir: string;
  built: string[];
  cached: string[];
  missing: string[];
  assets: string[];
}

interface CacheEntry {
  inputs: Record<string, string>;
  outHash: string;
}
type Cache = Record<string, CacheEntry>;

const sha = (b: Uint8Array | string) => createHash('sha256').update(b).digest('hex');

async function hashFile(path: string): Promise<string | undefined> {
  try {
    return sha(await readFile(path));
  } catch {
    return undefined;
  }
}

/** Inputs under node_modules are covered by the lockfile's hash instead of being read one by one. */
async function upToDate(projectDir: string, distDir: string, e: RemoteEntry, c: CacheEntry | undefined): Promise<boolean> {
  if (!c) return false;
  const outHash = await hashFile(join(distDir, e.out));
  if (outHash !== c.outHash) return false;
  for (const [path, h] of Object.entries(c.inputs)) {
    if (((await hashFile(join(projectDir, path))) ?? '') !== h) return false;
  }
  return true;
}

async function buildEntry(projectDir: string, distDir: string, e: RemoteEntry): Promise<CacheEntry> {
  const r = await build({
    absWorkingDir: projectDir,
    entryPoints: [join(projectDir, e.src)],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    write: false,
    metafile: true,
    sourcemap: false,
    logLevel: 'silent',
    outfile: join(distDir, e.out),
    banner: { js: BANNER },
    // Optional native accelerators of ws: absent is fine, ws falls back to JS.
    external: ['bufferutil', 'utf-8-validate'],
  }).catch((err: Error & { errors?: { text: string; location?: { file: string; line: number } }[] }) => {
    const detail =
      err.errors?.map((x) => `${x.location ? `${x.location.file}:${x.location.line}: ` : ''}${x.text}`).join('\n  ') ??
      err.message;
    throw new Error(`bundle ${e.out} from ${e.src} failed:\n  ${detail}`);
  });
  const out = r.outputFiles.find((f) => f.path.endsWith(e.out));
  if (!out) throw new Error(`bundle ${e.out}: esbuild produced no output file`);
  // Write then rename: a concurrent reader (or bundler) never sees a half-written bundle.
  const tmp = join(distDir, `.${e.out}.${process.pid}.tmp`);
  await writeFile(tmp, out.contents);
  await rename(tmp, join(distDir, e.out));
  const inputs: Record<string, string> = {};
  for (const p of Object.keys(r.metafile.inputs)) {
    if (p.includes('node_modules/')) continue;
    inputs[p] = (await hashFile(join(projectDir, p)))!;
  }
  inputs['package-lock.json'] = (await hashFile(join(projectDir, 'package-lock.json'))) ?? '';
  return { inputs, outHash: sha(out.contents) };
}

/** The data files beside the bundles: BF Runtime proto, every *.bf-rt.json, the switchd confs. */
async function assetList(projectDir: string): Promise<{ from: string; to: string }[]> {
  const p4 = join(projectDir, 'p4');
  const list: { from: string; to: string }[] = [];
  const proto = join(p4, 'proto', 'bfruntime.proto');
  if (existsSync(proto)) list.push({ from: proto, to: 'bfruntime.proto' });
  for (const f of existsSync(p4) ? await readdir(p4) : []) {
    if (f.endsWith('.bf-rt.json')) list.push({ from: join(p4, f), to: f });
  }
  const conf = join(p4, 'conf');
  if (existsSync(conf)) {
    for (const f of await readdir(conf, { recursive: true })) {
      const from = join(conf, f);
      if ((await stat(from)).isFile()) list.push({ from, to: join('conf', f) });
    }
  }
  return list;
}

/** Top-level names a bundle run puts in dist/remote (programs, then assets; `conf` for the conf folder), without building. */
export async function plannedRemoteFiles(projectDir: string): Promise<string[]> {
  const assets = (await assetList(projectDir)).map((a) => a.to.split(/[\\/]/)[0]);
  return [...new Set([...REMOTE_ENTRIES.map((e) => e.out), ...assets])].sort();
}

async function copyAssets(projectDir: string, distDir: string): Promise<string[]> {
  const copied: string[] = [];
  for (const a of await assetList(projectDir)) {
    const to = join(distDir, a.to);
    if ((await hashFile(to)) === (await hashFile(a.from))) continue;
    await mkdir(dirname(to), { recursive: true });
    await copyFile(a.from, to);
    copied.push(a.to);
  }
  return copied;
}

/** Builds dist/remote/ and returns its path. Entries whose source does not exist yet are skipped
 * unless listed in `opts.require`. */
export async function bundleRemote(projectDir: string, opts: BundleOptions = {}): Promise<string> {
  return (await bundleRemoteDetailed(projectDir, opts)).dir;
}

export async function bundleRemoteDetailed(projectDir: string, opts: BundleOptions = {}): Promise<BundleResult> {
  const distDir = join(projectDir, REMOTE_DIST);
  await mkdir(distDir, { recursive: true });
  const known = new Set(REMOTE_ENTRIES.map((e) => e.out));
  for (const r of opts.require ?? []) {
    if (!known.has(r)) throw new Error(`bundleRemote: unknown entry "${r}" (expected one of ${[...known].join(', ')})`);
  }
  const cachePath = join(distDir, CACHE_FILE);
  let cache: Cache = {};
  try {
    cache = JSON.parse(await readFile(cachePath, 'utf8')) as Cache;
  } catch {
    /* first build */
  }
  const res: BundleResult = { dir: distDir, built: [], cached: [], missing: [], assets: [] };
  for (const e of REMOTE_ENTRIES) {
    if (!existsSync(join(projectDir, e.src))) {
      if (opts.require?.includes(e.out))
        throw new Error(`bundleRemote: ${e.out} is needed but its source ${e.src} does not exist in ${projectDir}`);
      res.missing.push(e.out);
      continue;
    }
    if (!opts.force && (await upToDate(projectDir, distDir, e, cache[e.out]))) {
      res.cached.push(e.out);
      continue;
    }
    cache[e.out] = await buildEntry(projectDir, distDir, e);
    res.built.push(e.out);
  }
  res.assets = await copyAssets(projectDir, distDir);
  const tmp = join(distDir, `.${CACHE_FILE}.${process.pid}.tmp`);
  await writeFile(tmp, JSON.stringify(cache, null, 1));
  await rename(tmp, cachePath);
  opts.log?.(
    `bundle ${relative(projectDir, distDir)}: built ${res.built.join(' ') || 'nothing'}; cached ${res.cached.join(' ') || 'nothing'}` +
      `${res.missing.length ? `; not yet written: ${res.missing.join(' ')}` : ''}${res.assets.length ? `; assets ${res.assets.map((a) => basename(a)).join(' ')}` : ''}`,
  );
  return res;
}
