// BSP unwrapping against nested fake BSP archives built here with tar.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { unwrapBsp } from '../hw/unwrap-bsp.ts';

const root = mkdtempSync(join(tmpdir(), 'p4hw-bsp-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function write(path: string, text: string) {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text);
}

/** Outer bf-reference-bsp-<v>.tgz → bf-reference-bsp-<v>/packages/<inner names>, each → bf-platforms-<v>/... */
function fakeBsp(dir: string, inner: string[] = ['bf-platforms-9.13.4.tgz'], innerTop = 'bf-platforms-9.13.4'): string {
  const stage = mkdtempSync(join(root, 'stage-'));
  const outerTop = join(stage, 'bf-reference-bsp-9.13.4');
  const content = join(stage, 'content');
  write(join(content, innerTop, 'platforms', 'accton-bf', 'src', 'qsfp.c'), 'qsfp driver');
  write(join(content, innerTop, 'CMakeLists.txt'), 'platforms cmake');
  for (const name of inner) {
    mkdirSync(join(outerTop, 'packages'), { recursive: true });
    execFileSync('tar', ['-czf', join(outerTop, 'packages', name), '-C', content, innerTop]);
  }
  write(join(outerTop, 'README'), 'bsp');
  const tgz = join(dir, 'bf-reference-bsp-9.13.4.tgz');
  execFileSync('tar', ['-czf', tgz, '-C', stage, 'bf-reference-bsp-9.13.4']);
  rmSync(stage, { recursive: true });
  return tgz;
}

function pkgsrc(): string {
  const d = mkdtempSync(join(root, 'case-'));
  mkdirSync(join(d, 'pkgsrc', 'bf-drivers'), { recursive: true });
  return d;
}

describe('unwrapBsp', () => {
  it('extracts the inner archive to pkgsrc/bf-platforms exactly', async () => {
    const d = pkgsrc();
    const r = await unwrapBsp(fakeBsp(d), join(d, 'pkgsrc'));
    expect(r.innerArchive).toBe('bf-reference-bsp-9.13.4/packages/bf-platforms-9.13.4.tgz');
    expect(r.extractedAs).toBe('bf-platforms-9.13.4');
    expect(r.platformsDir).toBe(join(d, 'pkgsrc', 'bf-platforms'));
    expect(readFileSync(join(d, 'pkgsrc/bf-platforms/platforms/accton-bf/src/qsfp.c'), 'utf8')).toBe('qsfp driver');
    expect(readFileSync(join(d, 'pkgsrc/bf-platforms/CMakeLists.txt'), 'utf8')).toBe('platforms cmake');
    // No versioned folder and no scratch folder left beside it.
    expect(readdirSync(join(d, 'pkgsrc')).sort()).toEqual(['bf-drivers', 'bf-platforms']);
  });

  it('accepts an already extracted outer folder', async () => {
    const d = pkgsrc();
    const tgz = fakeBsp(d);
    mkdirSync(join(d, 'outer'));
    execFileSync('tar', ['-xzf', tgz, '-C', join(d, 'outer')]);
    const r = await unwrapBsp(join(d, 'outer'), join(d, 'pkgsrc'));
    expect(readFileSync(join(r.platformsDir, 'CMakeLists.txt'), 'utf8')).toBe('platforms cmake');
  });

  it('says what it expected when there is no inner archive, or two', async () => {
    const d = pkgsrc();
    const none = fakeBsp(d, []);
    await expect(unwrapBsp(none, join(d, 'pkgsrc'))).rejects.toThrow(
      /expected exactly one inner bf-platforms-<version>\.tgz .* found none/,
    );
    const d2 = pkgsrc();
    const two = fakeBsp(d2, ['bf-platforms-9.13.3.tgz', 'bf-platforms-9.13.4.tgz']);
    await expect(unwrapBsp(two, join(d2, 'pkgsrc'))).rejects.toThrow(
      /found bf-reference-bsp-9.13.4\/packages\/bf-platforms-9.13.3.tgz, bf-reference-bsp-9.13.4\/packages\/bf-platforms-9.13.4.tgz/,
    );
    expect(readdirSync(join(d2, 'pkgsrc'))).toEqual(['bf-drivers']);
  });

  it('rejects an inner archive with an unexpected top folder', async () => {
    const d = pkgsrc();
    const bad = fakeBsp(d, ['bf-platforms-9.13.4.tgz'], 'weird');
    await expect(unwrapBsp(bad, join(d, 'pkgsrc'))).rejects.toThrow(
      /expected one top-level folder bf-platforms-<version>\/, found: weird/,
    );
    expect(readdirSync(join(d, 'pkgsrc'))).toEqual(['bf-drivers']);
  });

  it('does not overwrite an existing bf-platforms unless forced; names a missing BSP', async () => {
    const d = pkgsrc();
    const tgz = fakeBsp(d);
    mkdirSync(join(d, 'pkgsrc', 'bf-platforms'));
    writeFileSync(join(d, 'pkgsrc', 'bf-platforms', 'old'), 'old');
    await expect(unwrapBsp(tgz, join(d, 'pkgsrc'))).rejects.toThrow(/bf-platforms exists already; remove it or pass --force/);
    await unwrapBsp(tgz, join(d, 'pkgsrc'), { force: true });
    expect(readdirSync(join(d, 'pkgsrc', 'bf-platforms')).sort()).toEqual(['CMakeLists.txt', 'platforms']);
    await expect(unwrapBsp(join(d, 'missing.tgz'), join(d, 'pkgsrc'))).rejects.toThrow(/BSP not found: .*missing\.tgz/);
  });
});
