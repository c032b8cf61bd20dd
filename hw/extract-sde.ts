// Extract Intel's proprietary SDE archive (bf-sde-9.13.x.tgz) and unpack its bf-drivers package,
// which holds the real driver sources that hw/graft-drivers.ts copies into open-p4studio.
//
// tar -xf detects the compression itself (.tgz, .tar.xz, .tar).
//
// Layout of the archive (SDE 9.x): one top-level folder bf-sde-<version>/ with p4studio/ (the
// build tool) and packages/ (one .tgz per component, among them bf-drivers-<version>.tgz, which
// unpacks to bf-drivers-<version>/). The version is parsed from the folder name, as the
// original Makefile did, because the package names carry it.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { $v, cliMain, need, requireFile } from './cli.ts';

/** Entries the top-level SDE folder must have (a trailing / means a directory). */
export const SDE_LAYOUT = ['p4studio/', 'packages/'] as const;

/** `bf-sde-9.13.4`, `bf-sde-9.13.4.tgz`, `/x/bf-sde-9.13.4.tar.gz` → `9.13.4`. */
export function parseSdeVersion(name: string): string {
  const m = /^bf-sde-(\d+\.\d+\.\d+)(?:\.(?:tgz|tar\.gz|tar\.xz|tar))?$/.exec(basename(name));
  if (!m)
    throw new Error(
      `cannot parse the SDE version from ${JSON.stringify(basename(name))}: expected bf-sde-X.Y.Z (e.g. bf-sde-9.13.4)`,
    );
  return m[1];
}

function listing(dir: string): string {
  const names = readdirSync(dir).map((n) => (statSync(join(dir, n)).isDirectory() ? `${n}/` : n));
  return names.length ? names.sort().join(', ') : '(empty)';
}

/** Throw naming every missing entry of SDE_LAYOUT and what the folder holds instead. */
export function checkSdeLayout(sdeDir: string): void {
  const missing = SDE_LAYOUT.filter((e) => {
    const p = join(sdeDir, e);
    return !existsSync(p) || (e.endsWith('/') && !statSync(p).isDirectory());
  });
  if (missing.length) {
    throw new Error(`${sdeDir} does not look like an SDE: missing ${missing.join(', ')}; found: ${listing(sdeDir)}`);
  }
}

export interface ExtractedSde {
  version: string;
  sdeDir: string;
  bfDriversDir: string;
}

/**
 * Make `<sdeDir>/bf-drivers-<version>/` exist, unpacking packages/bf-drivers-<version>.tgz when it
 * is not there yet. Returns its path.
 */
export async function unpackBfDrivers(sdeDir: string, version: string): Promise<string> {
  const dir = join(sdeDir, `bf-drivers-${version}`);
  if (existsSync(dir)) return dir;
  const tgz = join(sdeDir, 'packages', `bf-drivers-${version}.tgz`);
  if (!existsSync(tgz)) {
    throw new Error(`bf-drivers package not found: expected ${tgz}; packages/ holds: ${listing(join(sdeDir, 'packages'))}`);
  }
  await $v`tar -xf ${tgz} -C ${sdeDir}`;
  if (!existsSync(dir)) {
    throw new Error(`${tgz} did not unpack to bf-drivers-${version}/; ${sdeDir} now holds: ${listing(sdeDir)}`);
  }
  return dir;
}

/**
 * Extract `tarball` into `targetDir` (as targetDir/bf-sde-<version>), check its layout and unpack
 * bf-drivers. Extraction goes to a scratch folder first, so a bad archive leaves nothing half-done.
 */
export async function extractSde(tarball: string, targetDir: string, opts: { force?: boolean } = {}): Promise<ExtractedSde> {
  requireFile(tarball, 'SDE archive');
  const version = parseSdeVersion(tarball);
  const top = `bf-sde-${version}`;
  mkdirSync(targetDir, { recursive: true });
  const dest = join(resolve(targetDir), top);
  if (existsSync(dest)) {
    if (!opts.force) throw new Error(`${dest} exists already; remove it or pass --force to replace it`);
    rmSync(dest, { recursive: true, force: true });
  }
  const scratch = mkdtempSync(join(resolve(targetDir), '.extract-sde-'));
  try {
    await $v`tar -xf ${tarball} -C ${scratch}`;
    const entries = readdirSync(scratch);
    if (entries.length !== 1 || entries[0] !== top || !statSync(join(scratch, top)).isDirectory()) {
      throw new Error(`${tarball}: expected exactly one top-level folder ${top}/, found: ${listing(scratch)}`);
    }
    checkSdeLayout(join(scratch, top));
    renameSync(join(scratch, top), dest);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  const bfDriversDir = await unpackBfDrivers(dest, version);
  return { version, sdeDir: dest, bfDriversDir };
}

const USAGE = `
Usage: npx tsx hw/extract-sde.ts --tarball bf-sde-9.13.4.tgz --to DIR [--force]

Extracts Intel's SDE archive into DIR/bf-sde-<version>, checks it holds ${SDE_LAYOUT.join(' and ')},
and unpacks packages/bf-drivers-<version>.tgz to DIR/bf-sde-<version>/bf-drivers-<version>
(the --from folder of hw/graft-drivers.ts).

  --tarball FILE   the SDE archive, named bf-sde-X.Y.Z.tgz (the version is parsed from the name)
  --to DIR         where to extract (created if missing)
  --force          replace an existing DIR/bf-sde-<version>
  -h, --help       this text
`;

cliMain(
  import.meta.url,
  {
    tarball: { type: 'string' },
    to: { type: 'string' },
    force: { type: 'boolean' },
  },
  USAGE,
  async ({ values }) => {
    const tarball = need(values.tarball, '--tarball', 'the bf-sde-X.Y.Z.tgz archive');
    const to = need(values.to, '--to', 'the folder to extract into');
    const r = await extractSde(tarball, to, { force: Boolean(values.force) });
    console.log(`SDE version: ${r.version}`);
    console.log(`SDE folder:  ${r.sdeDir}`);
    console.log(`bf-drivers:  ${r.bfDriversDir}   (pass as --from to hw/graft-drivers.ts)`);
  },
);
