// Unwrap Intel's reference BSP into open-p4studio's pkgsrc/bf-platforms.
//
// The BSP ships nested: an outer archive (bf-reference-bsp-<v>.tgz, holding
// bf-reference-bsp-<v>/packages/bf-platforms-<v>.tgz) whose inner archive extracts to a
// versioned folder (bf-platforms-9.13.4). The SDE build looks for pkgsrc/bf-platforms exactly,
// so the folder is renamed. open-p4studio's graft script does not handle the BSP at all.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { $v, cliMain, need, requireDir } from './cli.ts';

const INNER = /^bf-platforms-.+\.(tgz|tar\.gz)$/;

/** Paths (relative to root) of inner bf-platforms archives, searched a few levels deep. */
export function findInnerArchives(root: string, depth = 4): string[] {
  const out: string[] = [];
  const walk = (dir: string, d: number) => {
    for (const name of readdirSync(dir).sort()) {
      const p = join(dir, name);
      const st = statSync(p);
      if (st.isDirectory()) {
        if (d > 0) walk(p, d - 1);
      } else if (INNER.test(name)) {
        out.push(relative(root, p));
      }
    }
  };
  walk(root, depth);
  return out;
}

export interface UnwrappedBsp {
  innerArchive: string;
  extractedAs: string;
  platformsDir: string;
}

/**
 * Unwrap `bsp` (the outer archive, or a folder where it was already extracted) into
 * `pkgsrcDir/bf-platforms`. Work happens in a scratch folder beside the target, so a failure
 * leaves no partial bf-platforms behind.
 */
export async function unwrapBsp(bsp: string, pkgsrcDir: string, opts: { force?: boolean } = {}): Promise<UnwrappedBsp> {
  if (!existsSync(bsp))
    throw new Error(
      `BSP not found: ${bsp} (expected the outer archive, e.g. bf-reference-bsp-9.13.4.tgz, or its extracted folder)`,
    );
  requireDir(pkgsrcDir, "open-p4studio's pkgsrc folder");
  const target = join(resolve(pkgsrcDir), 'bf-platforms');
  if (existsSync(target) && !opts.force) throw new Error(`${target} exists already; remove it or pass --force to replace it`);
  const scratch = mkdtempSync(join(resolve(pkgsrcDir), '.unwrap-bsp-'));
  try {
    let outerRoot = bsp;
    if (statSync(bsp).isFile()) {
      outerRoot = join(scratch, 'outer');
      mkdirSync(outerRoot);
      await $v`tar -xf ${bsp} -C ${outerRoot}`;
    }
    const inner = findInnerArchives(outerRoot);
    if (inner.length !== 1) {
      throw new Error(
        `${bsp}: expected exactly one inner bf-platforms-<version>.tgz (usually under bf-reference-bsp-<version>/packages/), ` +
          `found ${inner.length ? inner.join(', ') : 'none'}`,
      );
    }
    const innerDir = join(scratch, 'inner');
    mkdirSync(innerDir);
    await $v`tar -xf ${join(outerRoot, inner[0])} -C ${innerDir}`;
    const tops = readdirSync(innerDir);
    const dirs = tops.filter((n) => statSync(join(innerDir, n)).isDirectory() && /^bf-platforms(-.+)?$/.test(n));
    if (tops.length !== 1 || dirs.length !== 1) {
      throw new Error(
        `${inner[0]}: expected one top-level folder bf-platforms-<version>/, found: ${tops.length ? tops.join(', ') : '(empty)'}`,
      );
    }
    if (existsSync(target)) rmSync(target, { recursive: true, force: true });
    renameSync(join(innerDir, dirs[0]), target);
    return { innerArchive: inner[0], extractedAs: dirs[0], platformsDir: target };
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

const USAGE = `
Usage: npx tsx hw/unwrap-bsp.ts --bsp bf-reference-bsp-9.13.4.tgz --pkgsrc OPEN_P4STUDIO/pkgsrc [--force]

Extracts the outer BSP archive, finds the inner bf-platforms-<version>.tgz, extracts it and
renames bf-platforms-<version>/ to exactly PKGSRC/bf-platforms (the name the SDE build expects).

  --bsp PATH      outer BSP archive (or the folder it was already extracted to)
  --pkgsrc DIR    open-p4studio's pkgsrc folder
  --force         replace an existing PKGSRC/bf-platforms
  -h, --help      this text
`;

cliMain(
  import.meta.url,
  {
    bsp: { type: 'string' },
    pkgsrc: { type: 'string' },
    force: { type: 'boolean' },
  },
  USAGE,
  async ({ values }) => {
    const r = await unwrapBsp(
      need(values.bsp, '--bsp', 'the outer BSP archive'),
      need(values.pkgsrc, '--pkgsrc', "open-p4studio's pkgsrc folder"),
      { force: Boolean(values.force) },
    );
    console.log(`inner archive: ${r.innerArchive}`);
    console.log(`${r.extractedAs}/ → ${r.platformsDir}`);
  },
);
