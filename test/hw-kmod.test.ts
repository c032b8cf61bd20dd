// Kernel module status parsing and loading, against a fake /proc/modules and fake SDE load scripts.
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { formatStatus, loadModules, moduleStatus, parseModuleList, parseProcModules } from '../hw/kernel-modules.ts';

const root = mkdtempSync(join(tmpdir(), 'p4hw-kmod-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const PROC = `nf_tables 380928 120 nft_chain_nat,nft_fwd_netdev, Live 0x0000000000000000
bf_kdrv 28672 2 - Live 0xffffffffc0a1e000 (OE)
bf_knet 36864 0 - Loading 0xffffffffc0a2e000 (OE)
veth 40960 0 - Live 0x0000000000000000
`;

describe('status', () => {
  it('parses /proc/modules lines', () => {
    const m = parseProcModules(PROC);
    expect(m.get('bf_kdrv')).toEqual({ name: 'bf_kdrv', size: 28672, refcount: 2, state: 'Live' });
    expect(m.size).toBe(4);
  });

  it('reports loaded, present-but-not-live and missing modules', () => {
    const s = moduleStatus(PROC);
    expect(s).toEqual([
      { name: 'bf_kdrv', loaded: true, state: 'Live' },
      { name: 'bf_kpkt', loaded: false, state: undefined },
      { name: 'bf_knet', loaded: false, state: 'Loading' },
    ]);
    const text = formatStatus(s);
    expect(text).toMatch(/bf_kdrv\s+loaded/);
    expect(text).toMatch(/bf_knet\s+present \(Loading\)/);
    expect(text).toMatch(/ASIC driver \(bf_kdrv or bf_kpkt\): present/);
    expect(formatStatus(moduleStatus('veth 1 0 - Live 0x0\n'))).toMatch(/MISSING — switchd will fail with "device not found"/);
  });

  it('validates --modules', () => {
    expect(parseModuleList('bf_kdrv, bf_knet')).toEqual(['bf_kdrv', 'bf_knet']);
    expect(() => parseModuleList('bf_kdrv,nvidia')).toThrow(
      /bad --modules "bf_kdrv,nvidia": expected a comma list of bf_kdrv, bf_kpkt, bf_knet/,
    );
  });
});

/** Fake SDE_INSTALL whose load scripts append the module to the fake /proc/modules (or fail). */
function fakeInstall(proc: string, failing: string[] = [], missing: string[] = []): string {
  const inst = mkdtempSync(join(root, 'install-'));
  mkdirSync(join(inst, 'bin'));
  for (const m of ['bf_kdrv', 'bf_kpkt', 'bf_knet']) {
    if (missing.includes(m)) continue;
    const script = join(inst, 'bin', `${m}_mod_load`);
    writeFileSync(
      script,
      failing.includes(m)
        ? `#!/bin/sh\necho "insmod: ERROR: could not insert module ${m}.ko: Device or resource busy" >&2\nexit 1\n`
        : `#!/bin/sh\n[ "$1" = "${inst}" ] || { echo "wrong SDE_INSTALL arg: $1" >&2; exit 2; }\necho "${m} 4096 0 - Live 0x0 (OE)" >> ${proc}\n`,
    );
    chmodSync(script, 0o755);
  }
  return inst;
}

describe('load', () => {
  it('loads only what is missing, with $SDE_INSTALL as argument, and verifies it', async () => {
    const proc = join(root, 'proc-ok');
    writeFileSync(proc, PROC);
    const inst = fakeInstall(proc);
    const s = await loadModules({ sdeInstall: inst, procModules: proc });
    expect(s.every((m) => m.loaded)).toBe(true);
    // bf_kdrv was already Live: its script must not run again.
    expect(readFileSync(proc, 'utf8').match(/^bf_kdrv /gm)).toHaveLength(1);
  });

  it('checks every load script before loading any', async () => {
    const proc = join(root, 'proc-missing');
    writeFileSync(proc, '');
    const inst = fakeInstall(proc, [], ['bf_kpkt', 'bf_knet']);
    await expect(loadModules({ sdeInstall: inst, procModules: proc })).rejects.toThrow(
      /load scripts missing or not executable[\s\S]*bf_kpkt_mod_load\n[\s\S]*bf_knet_mod_load/,
    );
    expect(readFileSync(proc, 'utf8')).toBe('');
  });

  it('reports a failing load with its exit code and stderr, after trying the rest', async () => {
    const proc = join(root, 'proc-fail');
    writeFileSync(proc, '');
    const inst = fakeInstall(proc, ['bf_kpkt']);
    const msg = await loadModules({ sdeInstall: inst, procModules: proc }).catch((e: Error) => e.message);
    expect(msg).toMatch(
      /could not load 1 module\(s\):\n  bf_kpkt: .*bf_kpkt_mod_load .* → exit 1: insmod: ERROR: could not insert module bf_kpkt\.ko: Device or resource busy/,
    );
    expect(msg).toMatch(/bf_knet\s+loaded/);
  });

  it('CLI --status only reports', () => {
    const proc = join(root, 'proc-cli');
    writeFileSync(proc, PROC);
    const r = spawnSync('npx', ['tsx', 'hw/kernel-modules.ts', '--status', '--proc-modules', proc], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/bf_kdrv\s+loaded\nbf_kpkt\s+not loaded\nbf_knet\s+present \(Loading\)/);
    expect(readFileSync(proc, 'utf8')).toBe(PROC);
  });
});
