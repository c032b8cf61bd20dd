// Hardware profile writing (parsed back with the yaml package) and the profile-apply checks,
// with a fake p4studio and a fake interpreter so no SDE is needed.
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { afterAll, describe, expect, it } from 'vitest';
import { hardwareProfileYaml, writeProfile } from '../hw/write-profile.ts';
import { applyProblems, profileApply, profileFacts } from '../hw/profile-apply.ts';

const root = mkdtempSync(join(tmpdir(), 'p4hw-profile-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const bsp = join(root, 'bf-reference-bsp-9.13.4.tgz');
writeFileSync(bsp, 'not really a tarball');

// Shape of open-p4studio's model profile: compiler, bfrt, grpc, thrift; no hardware parts.
const MODEL = `# model profile
global-options: {}
features:
  drivers:
    bfrt: true
    grpc: true
    thrift-driver: true
  p4-examples:
    - p4-16-programs
  bf-platforms: false
architectures:
  - tofino2
`;

describe('hardware profile', () => {
  it('from scratch has every hardware field; tf1 (Wedge100BF) gets no variant flag and no SAI', () => {
    const y = parse(hardwareProfileYaml({ bspPath: bsp, arch: 'tf1' }));
    expect(y['global-options'].asic).toBe(true);
    expect(y.features['bf-platforms']).toEqual({ 'bsp-path': bsp });
    expect(y.features.switch).toBeUndefined();
    expect(y.features.drivers).toMatchObject({ bfrt: true, grpc: true });
    expect(y.architectures).toEqual(['tofino']);
  });

  it('defaults to newport for tf2 only, adds SAI on request, and refuses newport for tf1', () => {
    const y = parse(hardwareProfileYaml({ bspPath: bsp, arch: 'tf2' }));
    expect(y.features['bf-platforms'].newport).toBe(true);
    expect(y.features.switch).toBeUndefined();
    expect(parse(hardwareProfileYaml({ bspPath: bsp, arch: 'tf1', sai: true })).features.switch.sai).toBe(true);
    expect(() => hardwareProfileYaml({ bspPath: bsp, arch: 'tf1', platform: 'newport' })).toThrow(
      /newport with arch tf1: p4studio builds newport only for tofino2/,
    );
  });

  it('from the model profile keeps its settings and injects the hardware ones', () => {
    const text = hardwareProfileYaml({ bspPath: bsp, arch: 'tf2', platform: 'none' }, MODEL);
    const y = parse(text);
    expect(text.startsWith('# model profile')).toBe(true);
    expect(y.features.drivers['thrift-driver']).toBe(true);
    expect(y.features['p4-examples']).toEqual(['p4-16-programs']);
    expect(y['global-options']).toEqual({ asic: true });
    expect(y.features['bf-platforms']).toEqual({ 'bsp-path': bsp });
    expect(y.architectures).toEqual(['tofino2']);
  });

  it('turns off another variant flag the base had on', () => {
    const base = 'features:\n  bf-platforms:\n    accton-diags: true\narchitectures: [tofino2]\n';
    const y = parse(hardwareProfileYaml({ bspPath: bsp, arch: 'tf2', platform: 'newport' }, base));
    expect(y.features['bf-platforms']).toMatchObject({ newport: true, 'accton-diags': false });
  });

  it('rejects bad input with the expected values', () => {
    expect(() => hardwareProfileYaml({ bspPath: bsp, arch: 'tf3' as 'tf1' })).toThrow(/bad arch "tf3": expected tf1 or tf2/);
    expect(() => hardwareProfileYaml({ bspPath: bsp, arch: 'tf1', platform: 'mavericks' as 'none' })).toThrow(
      /bad platform variant "mavericks": expected one of newport/,
    );
    expect(() => hardwareProfileYaml({ bspPath: bsp, arch: 'tf1' }, '- a\n- b\n', 'm.yaml')).toThrow(
      /m\.yaml must be a YAML mapping/,
    );
    expect(() => writeProfile({ bspPath: join(root, 'nope.tgz'), arch: 'tf1', out: join(root, 'x.yaml') })).toThrow(
      /BSP archive not found: .*nope\.tgz/,
    );
  });

  it('writeProfile writes a file profile-apply reads as hardware', () => {
    const out = join(root, 'hw.yaml');
    writeProfile({ bspPath: bsp, arch: 'tf1', out });
    expect(profileFacts(readFileSync(out, 'utf8'))).toEqual({ asic: true, bspPath: bsp, architectures: ['tofino'] });
  });
});

/** A fake SDE folder: p4studio/p4studio is a sh script run by the fake interpreter below. */
function fakeSde(opts: { platforms?: boolean; exitCode?: number; installs?: boolean } = {}): string {
  const d = mkdtempSync(join(root, 'sde-'));
  mkdirSync(join(d, 'p4studio'));
  mkdirSync(join(d, 'pkgsrc'));
  if (opts.platforms !== false) mkdirSync(join(d, 'pkgsrc', 'bf-platforms'));
  writeFileSync(
    join(d, 'p4studio', 'p4studio'),
    `echo "p4studio args: $*"
echo "building drivers..."
${opts.installs === false ? '' : 'mkdir -p install/bin && touch install/bin/bf_switchd'}
touch ran-marker
${opts.exitCode ? `echo "CMake Error: something deep" >&2; exit ${opts.exitCode}` : 'exit 0'}
`,
  );
  return d;
}

/** Fake interpreter: answers the version/distutils probes and runs the script it is given with sh. */
function fakePython(version: string): string {
  const p = join(root, `python-${version}`);
  writeFileSync(p, `#!/bin/sh\ncase "$1" in --version) echo "Python ${version}";; -c) exit 0;; *) exec sh "$@";; esac\n`);
  chmodSync(p, 0o755);
  return p;
}

describe('profile apply', () => {
  const profile = join(root, 'apply.yaml');
  writeFileSync(profile, hardwareProfileYaml({ bspPath: bsp, arch: 'tf1' }));

  it('runs p4studio profile apply from the SDE folder and checks the install', async () => {
    const sde = fakeSde();
    await profileApply({ sde, profile, python: fakePython('3.10.12') });
    expect(existsSync(join(sde, 'ran-marker'))).toBe(true);
    expect(existsSync(join(sde, 'install/bin/bf_switchd'))).toBe(true);
  });

  it('stops before building when the BSP is not unwrapped or p4studio is missing', async () => {
    const sde = fakeSde({ platforms: false });
    rmSync(join(sde, 'p4studio'), { recursive: true });
    const err = await profileApply({ sde, profile, python: fakePython('3.10.12') }).catch((e: Error) => e.message);
    expect(err).toMatch(/p4studio not found: .*p4studio\/p4studio/);
    expect(err).toMatch(/pkgsrc\/bf-platforms not found: unwrap the BSP first/);
    expect(existsSync(join(sde, 'ran-marker'))).toBe(false);
  });

  it('refuses a model profile unless --model, and Python 3.12 before building', async () => {
    const model = join(root, 'model.yaml');
    writeFileSync(model, MODEL);
    const p = applyProblems(fakeSde(), model, profileFacts(MODEL));
    expect(p.join('\n')).toMatch(/does not set global-options\.asic: true/);
    expect(applyProblems(fakeSde(), model, profileFacts(MODEL), { model: true })).toEqual([]);
    const sde = fakeSde();
    await expect(profileApply({ sde, profile, python: fakePython('3.12.1') })).rejects.toThrow(/3\.11 or older/);
    expect(existsSync(join(sde, 'ran-marker'))).toBe(false);
  });

  it('reports the exit code and the last lines of a failed build', async () => {
    const sde = fakeSde({ exitCode: 3 });
    await expect(profileApply({ sde, profile, python: fakePython('3.11.4') })).rejects.toThrow(
      /failed in .* \(exit 3\); last lines:\nCMake Error: something deep/,
    );
  });

  it('notices a build that exits 0 without installing bf_switchd', async () => {
    const sde = fakeSde({ installs: false });
    await expect(profileApply({ sde, profile, python: fakePython('3.11.4') })).rejects.toThrow(
      /exited 0 but .*install\/bin\/bf_switchd is missing/,
    );
  });
});
