// Graft Intel's proprietary driver sources into open-p4studio's pkgsrc/bf-drivers.
//
// open-p4studio ships stubs for the port manager and serdes layers; a hardware build needs the
// real files from the proprietary SDE. open-p4studio's rdc_setup.sh copies them with unguarded
// `cp` calls, so a missing file is skipped silently and the build fails much later in CMake with
// no hint of the cause. Here every entry of the list is resolved first; if any is missing, the
// graft fails listing all missing paths and copies nothing.
import { cpSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, posix, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cliMain, need, requireDir, requireFile } from './cli.ts';

export const DEFAULT_LIST = join(dirname(fileURLToPath(import.meta.url)), 'graft-files.txt');

export interface GraftEntry {
  /** As written in the list, relative to bf-drivers. */
  pattern: string;
  line: number;
  /** Trailing "/" in the list: the source must be a directory. */
  dirOnly: boolean;
}

/** Parse a graft list: one entry per line, `#` comments and blank lines ignored. */
export function parseGraftList(text: string, label = 'graft list'): GraftEntry[] {
  const entries: GraftEntry[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (!line || line.startsWith('#')) return;
    const where = `${label}:${i + 1}`;
    if (line.startsWith('/') || line.split('/').includes('..') || /\s/.test(line)) {
      throw new Error(
        `${where}: bad entry ${JSON.stringify(line)}: expected a path relative to bf-drivers without spaces or ".."`,
      );
    }
    const dirOnly = line.endsWith('/');
    const pattern = dirOnly ? line.replace(/\/+$/, '') : line;
    if (!pattern) throw new Error(`${where}: bad entry ${JSON.stringify(line)}`);
    entries.push({ pattern, line: i + 1, dirOnly });
  });
  if (!entries.length) throw new Error(`${label} holds no entries`);
  return entries;
}

export function readGraftList(path: string): GraftEntry[] {
  requireFile(path, 'graft list');
  return parseGraftList(readFileSync(path, 'utf8'), path);
}

const isGlob = (s: string) => /[*?[]/.test(s);

function globToRegExp(segment: string): RegExp {
  let re = '';
  for (const ch of segment) {
    if (ch === '*') re += '[^/]*';
    else if (ch === '?') re += '[^/]';
    else re += ch.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

/** Expand one pattern (globs allowed in any segment) against `root`; relative paths, sorted. */
export function expand(root: string, pattern: string): string[] {
  let current = [''];
  for (const seg of pattern.split('/')) {
    const next: string[] = [];
    for (const base of current) {
      const dir = join(root, base);
      if (isGlob(seg)) {
        if (!existsSync(dir) || !statSync(dir).isDirectory()) continue;
        const re = globToRegExp(seg);
        for (const name of readdirSync(dir).sort()) if (re.test(name)) next.push(posix.join(base, name));
      } else if (existsSync(join(dir, seg))) {
        next.push(posix.join(base, seg));
      }
    }
    current = next;
  }
  return current;
}

export interface GraftItem {
  entry: GraftEntry;
  path: string;
  isDir: boolean;
  files: number;
  bytes: number;
}
export interface GraftPlan {
  from: string;
  to: string;
  items: GraftItem[];
  missing: string[];
}

function countTree(p: string): { files: number; bytes: number } {
  const st = lstatSync(p);
  if (!st.isDirectory()) return { files: 1, bytes: st.size };
  let files = 0,
    bytes = 0;
  for (const name of readdirSync(p)) {
    const c = countTree(join(p, name));
    files += c.files;
    bytes += c.bytes;
  }
  return { files, bytes };
}

/** Resolve every entry against the proprietary tree; `missing` describes each entry that did not resolve. */
export function planGraft(from: string, to: string, entries: GraftEntry[]): GraftPlan {
  const items: GraftItem[] = [];
  const missing: string[] = [];
  for (const entry of entries) {
    const shown = entry.dirOnly ? `${entry.pattern}/` : entry.pattern;
    const paths = expand(from, entry.pattern);
    if (!paths.length) {
      missing.push(isGlob(entry.pattern) ? `${shown} (no match)` : shown);
      continue;
    }
    for (const path of paths) {
      const isDir = statSync(join(from, path)).isDirectory();
      if (entry.dirOnly && !isDir) {
        missing.push(`${shown} (is a file, expected a directory)`);
        continue;
      }
      items.push({ entry, path, isDir, ...countTree(join(from, path)) });
    }
  }
  return { from, to, items, missing };
}

export interface GraftResult {
  plan: GraftPlan;
  copied: number;
  files: number;
  bytes: number;
  replaced: number;
}

function looksLikeBfDrivers(dir: string, what: string): void {
  requireDir(dir, what);
  if (!existsSync(join(dir, 'src')) || !statSync(join(dir, 'src')).isDirectory()) {
    throw new Error(`${what} ${dir} does not look like a bf-drivers tree: it has no src/ folder`);
  }
}

/**
 * Graft the listed files from `from` (Intel's bf-drivers-<v>) into `to` (open-p4studio's
 * pkgsrc/bf-drivers). Fails before copying anything when an entry is missing. `log` receives
 * one line per copied (or, with dryRun, would-be-copied) entry.
 */
export function graftDrivers(opts: {
  from: string;
  to: string;
  list?: string;
  entries?: GraftEntry[];
  dryRun?: boolean;
  log?: (line: string) => void;
}): GraftResult {
  const log = opts.log ?? ((l: string) => console.log(l));
  const from = resolve(opts.from);
  const to = resolve(opts.to);
  looksLikeBfDrivers(from, 'proprietary bf-drivers (--from)');
  looksLikeBfDrivers(to, 'open-p4studio bf-drivers (--to)');
  const entries = opts.entries ?? readGraftList(opts.list ?? DEFAULT_LIST);
  const plan = planGraft(from, to, entries);
  if (plan.missing.length) {
    throw new Error(
      `${plan.missing.length} of ${entries.length} graft entries are missing in ${from} (nothing was copied):\n` +
        plan.missing.map((m) => `  ${m}`).join('\n'),
    );
  }
  let files = 0,
    bytes = 0,
    replaced = 0;
  for (const item of plan.items) {
    const src = join(from, item.path);
    const dst = join(to, item.path);
    const existed = existsSync(dst);
    const what = item.isDir ? `${item.path}/ (${item.files} files)` : item.path;
    log(`${opts.dryRun ? 'would copy' : 'copy'} ${what}${existed ? ' [replaces stub]' : ''}`);
    if (existed) replaced++;
    files += item.files;
    bytes += item.bytes;
    if (opts.dryRun) continue;
    mkdirSync(dirname(dst), { recursive: true });
    // Directories are merged over the stub directory (stub files the vendor tree lacks stay).
    cpSync(src, dst, { recursive: true, force: true, dereference: false });
  }
  const summary =
    `${opts.dryRun ? 'dry run: would graft' : 'grafted'} ${plan.items.length} entries ` +
    `(${files} files, ${(bytes / 1024).toFixed(1)} KiB; ${replaced} replace existing stubs) from ${from} into ${to}`;
  log(summary);
  return { plan, copied: opts.dryRun ? 0 : plan.items.length, files, bytes, replaced };
}

const USAGE = `
Usage: npx tsx hw/graft-drivers.ts --from BF_DRIVERS_RDC --to OPEN_P4STUDIO/pkgsrc/bf-drivers [--list FILE] [--dry-run]

Copies Intel's proprietary driver sources into open-p4studio's bf-drivers, from a file list.
Every entry is checked first: if any is missing, all missing paths are listed and nothing is copied.

  --from DIR    proprietary bf-drivers tree (bf-sde-<v>/bf-drivers-<v>, see hw/extract-sde.ts)
  --to DIR      open-p4studio's pkgsrc/bf-drivers
  --list FILE   entries to copy (default: hw/graft-files.txt; files, dirs/ or globs, relative to bf-drivers)
  --dry-run     print what would be copied, copy nothing
  -h, --help    this text
`;

cliMain(
  import.meta.url,
  {
    from: { type: 'string' },
    to: { type: 'string' },
    list: { type: 'string' },
    'dry-run': { type: 'boolean' },
  },
  USAGE,
  async ({ values }) => {
    graftDrivers({
      from: need(values.from, '--from', 'the proprietary bf-drivers-<version> folder'),
      to: need(values.to, '--to', "open-p4studio's pkgsrc/bf-drivers folder"),
      list: values.list,
      dryRun: Boolean(values['dry-run']),
    });
  },
);
