// Driver graft and SDE extraction against fake SDE trees built here (tarballs made with tar).
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_LIST, graftDrivers, parseGraftList, readGraftList } from '../hw/graft-drivers.ts';
import { extractSde, parseSdeVersion } from '../hw/extract-sde.ts';

const root = mkdtempSync(join(tmpdir(), 'p4hw-graft-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function write(path: string, text: string) {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text);
}

/** Relative path → sha256 of every file under dir. */
function snapshot(dir: string, base = dir, out: Record<string, string> = {}): Record<string, string> {
  for (const n of readdirSync(dir)) {
    const p = join(dir, n);
    if (statSync(p).isDirectory()) snapshot(p, base, out);
    else out[p.slice(base.length + 1)] = createHash('sha256').update(readFileSync(p)).digest('hex');
  }
  return out;
}

const entries = readGraftList(DEFAULT_LIST);

/** A proprietary bf-drivers with every listed entry (dirs hold two files, the glob matches two libs). */
function fakeVendorTree(dir: string) {
  for (const e of entries) {
    if (e.pattern === 'libavago*') {
      write(join(dir, 'libavago.a'), 'vendor libavago.a');
      write(join(dir, 'libavago.so'), 'vendor libavago.so');
    } else if (e.dirOnly) {
      write(join(dir, e.pattern, 'a.c'), `vendor ${e.pattern}/a.c`);
      write(join(dir, e.pattern, 'sub', 'b.h'), `vendor ${e.pattern}/sub/b.h`);
    } else {
      write(join(dir, e.pattern), `vendor ${e.pattern}`);
    }
  }
  write(join(dir, 'src', 'not_listed.c'), 'must not be grafted');
}

/** open-p4studio's bf-drivers with stubs for some of the files. */
function fakeOpenTree(dir: string) {
  write(join(dir, 'bf_switchd', 'bf_switchd.c'), 'stub switchd');
  write(join(dir, 'src', 'port_mgr', 'port_mgr_tof1', 'port_mgr_serdes.c'), 'stub serdes');
  write(join(dir, 'src', 'avago', 'stub_only.c'), 'stub-only file');
  write(join(dir, 'CMakeLists.txt'), 'open cmake');
}

let vendor: string, open: string;
beforeEach(() => {
  const d = mkdtempSync(join(root, 'case-'));
  vendor = join(d, 'bf-drivers-9.13.4');
  open = join(d, 'open-p4studio', 'pkgsrc', 'bf-drivers');
  fakeVendorTree(vendor);
  fakeOpenTree(open);
});

describe('graft list', () => {
  it('covers the parts the technical report names', () => {
    const pats = entries.map((e) => e.pattern);
    for (const must of [
      'bf_switchd/bf_switchd.c',
      'libavago*',
      'include/avago/aapl.h',
      'src/avago',
      'src/credo',
      'src/alphawave',
      'src/microp',
      'src/port_mgr/port_mgr_tof1/bf_fsm_hdlrs.c',
      'src/port_mgr/port_mgr_tof3/aw_4ln',
    ]) {
      expect(pats).toContain(must);
    }
    expect(pats.some((p) => p.startsWith('src/port_mgr/port_mgr_tof2/'))).toBe(true);
    expect(new Set(pats).size).toBe(pats.length);
  });

  it('rejects absolute and parent paths with the line number', () => {
    expect(() => parseGraftList('ok/file.c\n/etc/passwd\n', 'l.txt')).toThrow(/l\.txt:2: bad entry "\/etc\/passwd"/);
    expect(() => parseGraftList('a/../b\n', 'l.txt')).toThrow(/l\.txt:1/);
  });
});

describe('graftDrivers', () => {
  it('fails listing exactly the missing paths and copies nothing', () => {
    rmSync(join(vendor, 'src/port_mgr/port_mgr_tof1/bf_fsm_hdlrs.c'));
    rmSync(join(vendor, 'src/port_mgr/port_mgr_tof3/aw_4ln'), { recursive: true });
    rmSync(join(vendor, 'libavago.a'));
    rmSync(join(vendor, 'libavago.so'));
    // A file where the list wants a directory counts as missing too.
    rmSync(join(vendor, 'src/microp'), { recursive: true });
    write(join(vendor, 'src/microp'), 'a file, not a dir');
    const before = snapshot(open);
    let msg = '';
    try {
      graftDrivers({ from: vendor, to: open, log: () => {} });
    } catch (e) {
      msg = (e as Error).message;
    }
    expect(msg).toMatch(/4 of \d+ graft entries are missing .*nothing was copied/);
    const listed = msg
      .split('\n')
      .slice(1)
      .map((l) => l.trim())
      .sort();
    expect(listed).toEqual([
      'libavago* (no match)',
      'src/microp/ (is a file, expected a directory)',
      'src/port_mgr/port_mgr_tof1/bf_fsm_hdlrs.c',
      'src/port_mgr/port_mgr_tof3/aw_4ln/',
    ]);
    expect(snapshot(open)).toEqual(before);
  });

  it('copies every listed entry over the stubs and nothing else', () => {
    const lines: string[] = [];
    const r = graftDrivers({ from: vendor, to: open, log: (l) => lines.push(l) });
    const after = snapshot(open);
    const vendorFiles = snapshot(vendor);
    for (const [rel, hash] of Object.entries(vendorFiles)) {
      if (rel === 'src/not_listed.c') continue;
      expect(after[rel], rel).toBe(hash);
    }
    expect(after['src/not_listed.c']).toBeUndefined();
    expect(readFileSync(join(open, 'bf_switchd/bf_switchd.c'), 'utf8')).toBe('vendor bf_switchd/bf_switchd.c');
    // Directories merge: a stub-only file in a grafted directory stays.
    expect(readFileSync(join(open, 'src/avago/stub_only.c'), 'utf8')).toBe('stub-only file');
    expect(readFileSync(join(open, 'CMakeLists.txt'), 'utf8')).toBe('open cmake');
    expect(r.files).toBe(Object.keys(vendorFiles).length - 1);
    expect(r.replaced).toBeGreaterThanOrEqual(3);
    expect(lines.at(-1)).toMatch(new RegExp(`^grafted ${r.plan.items.length} entries \\(${r.files} files`));
    expect(lines.some((l) => l === 'copy bf_switchd/bf_switchd.c [replaces stub]')).toBe(true);
  });

  it('--dry-run prints the plan and changes nothing', () => {
    const before = snapshot(open);
    const lines: string[] = [];
    const r = graftDrivers({ from: vendor, to: open, dryRun: true, log: (l) => lines.push(l) });
    expect(snapshot(open)).toEqual(before);
    expect(r.copied).toBe(0);
    expect(lines.filter((l) => l.startsWith('would copy')).length).toBe(r.plan.items.length);
    expect(lines.at(-1)).toMatch(/^dry run: would graft/);
  });

  it('refuses a destination that is not a bf-drivers tree', () => {
    const notDrivers = join(root, 'empty-dest');
    mkdirSync(notDrivers, { recursive: true });
    expect(() => graftDrivers({ from: vendor, to: notDrivers, log: () => {} })).toThrow(
      /does not look like a bf-drivers tree: it has no src\//,
    );
    expect(() => graftDrivers({ from: join(root, 'nope'), to: open, log: () => {} })).toThrow(
      /proprietary bf-drivers \(--from\) not found: .*nope/,
    );
  });

  it('as a CLI: exit 1 with the missing paths on stderr; --help exits 0', () => {
    rmSync(join(vendor, 'bf_switchd/bf_switchd.c'));
    const r = spawnSync('npx', ['tsx', 'hw/graft-drivers.ts', '--from', vendor, '--to', open], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/error: 1 of \d+ graft entries are missing/);
    expect(r.stderr).toContain('  bf_switchd/bf_switchd.c');
    expect(readFileSync(join(open, 'bf_switchd/bf_switchd.c'), 'utf8')).toBe('stub switchd');
    const h = spawnSync('npx', ['tsx', 'hw/graft-drivers.ts', '--help'], { encoding: 'utf8', timeout: 60_000 });
    expect(h.status).toBe(0);
    expect(h.stdout).toMatch(/^Usage: npx tsx hw\/graft-drivers.ts/);
  });
});

describe('extractSde', () => {
  function fakeSdeTarball(dir: string, version: string, opts: { withPackages?: boolean } = {}): string {
    const stage = mkdtempSync(join(root, 'stage-'));
    const top = join(stage, `bf-sde-${version}`);
    write(join(top, 'p4studio', 'p4studio'), '#!/bin/sh\n');
    write(join(top, 'README'), 'sde');
    if (opts.withPackages !== false) {
      const drv = join(stage, 'drv');
      write(join(drv, `bf-drivers-${version}`, 'src', 'port_mgr', 'x.c'), 'vendor x');
      mkdirSync(join(top, 'packages'), { recursive: true });
      execFileSync('tar', ['-czf', join(top, 'packages', `bf-drivers-${version}.tgz`), '-C', drv, `bf-drivers-${version}`]);
      rmSync(drv, { recursive: true });
    }
    const tgz = join(dir, `bf-sde-${version}.tgz`);
    execFileSync('tar', ['-czf', tgz, '-C', stage, `bf-sde-${version}`]);
    rmSync(stage, { recursive: true });
    return tgz;
  }

  it('parses the version from the archive name', () => {
    expect(parseSdeVersion('/x/bf-sde-9.13.4.tgz')).toBe('9.13.4');
    expect(parseSdeVersion('bf-sde-9.13.0')).toBe('9.13.0');
    expect(() => parseSdeVersion('sde.tgz')).toThrow(/cannot parse the SDE version from "sde.tgz": expected bf-sde-X.Y.Z/);
  });

  it('extracts, checks the layout and unpacks bf-drivers', async () => {
    const d = mkdtempSync(join(root, 'sde-'));
    const tgz = fakeSdeTarball(d, '9.13.4');
    const r = await extractSde(tgz, join(d, 'out'));
    expect(r.version).toBe('9.13.4');
    expect(r.sdeDir).toBe(join(d, 'out', 'bf-sde-9.13.4'));
    expect(readFileSync(join(r.bfDriversDir, 'src/port_mgr/x.c'), 'utf8')).toBe('vendor x');
    expect(readdirSync(join(d, 'out'))).toEqual(['bf-sde-9.13.4']);
    await expect(extractSde(tgz, join(d, 'out'))).rejects.toThrow(/exists already; remove it or pass --force/);
  });

  it('names the missing layout entries and leaves nothing behind', async () => {
    const d = mkdtempSync(join(root, 'sde-'));
    const tgz = fakeSdeTarball(d, '9.13.4', { withPackages: false });
    await expect(extractSde(tgz, join(d, 'out'))).rejects.toThrow(
      /does not look like an SDE: missing packages\/; found: README, p4studio\//,
    );
    expect(readdirSync(join(d, 'out'))).toEqual([]);
  });

  it('says which top-level folder it expected', async () => {
    const d = mkdtempSync(join(root, 'sde-'));
    write(join(d, 'stage', 'something-else', 'f'), 'x');
    const tgz = join(d, 'bf-sde-9.13.4.tgz');
    execFileSync('tar', ['-czf', tgz, '-C', join(d, 'stage'), 'something-else']);
    await expect(extractSde(tgz, join(d, 'out'))).rejects.toThrow(
      /expected exactly one top-level folder bf-sde-9.13.4\/, found: something-else\//,
    );
  });
});
