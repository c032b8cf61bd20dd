// hw/compile-p4.ts with a fake compiler and assembler: the target/arch flags per generation, the
// program name, output paths taken from the switchd conf, and the output checks.
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { compileP4, defaultPaths, pathsFromConf } from '../hw/compile-p4.ts';
import { programForArch } from '../p4/assets.ts';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..');

const root = mkdtempSync(join(tmpdir(), 'p4hw-compile-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const source = join(root, 'src', 'load_balancer.p4');
mkdirSync(join(root, 'src'));
writeFileSync(source, '// fake P4 source\n');

/**
 * Fake SDE install: bf-p4c logs its arguments, names the program after the file it compiles,
 * writes bf-rt.json and <out>/pipe/context.json and a .bfa; bfas writes tofino.bin beside the .bfa.
 */
function fakeInstall(opts: { noBfas?: boolean; compilerFails?: boolean } = {}): string {
  const inst = mkdtempSync(join(root, 'install-'));
  mkdirSync(join(inst, 'bin'));
  const log = join(inst, 'calls.log');
  writeFileSync(
    join(inst, 'bin', 'bf-p4c'),
    `#!/bin/sh
echo "bf-p4c $*" >> ${log}
${opts.compilerFails ? 'echo "error: table node_selector does not fit" >&2; exit 1' : ''}
out=; schema=; last=
while [ $# -gt 0 ]; do
  case "$1" in -o) out=$2; shift;; --bf-rt-schema) schema=$2; shift;; esac
  last=$1; shift
done
prog=$(basename "$last" .p4)
grep -q '#include ".*load_balancer.p4"' "$last" || { echo "wrapper does not include the source" >&2; exit 5; }
mkdir -p "$out/pipe"
echo '{"schema_version":"1.0.0","tables":[]}' > "$schema"
echo "{\\"program_name\\":\\"$prog\\"}" > "$out/pipe/context.json"
echo "asm" > "$out/pipe/$prog.bfa"
`,
  );
  if (!opts.noBfas) {
    writeFileSync(
      join(inst, 'bin', 'bfas'),
      `#!/bin/sh\necho "bfas $*" >> ${log}\n[ "$2" = "-o" ] && echo bin > "$3/tofino.bin"\n`,
    );
    chmodSync(join(inst, 'bin', 'bfas'), 0o755);
  }
  chmodSync(join(inst, 'bin', 'bf-p4c'), 0o755);
  return inst;
}

const conf = (program: string, family: string, dir = `share/${family}pd/${program}`) =>
  JSON.stringify({
    chip_list: [{ id: 'asic-0', chip_family: family, instance: 0 }],
    p4_devices: [
      {
        'device-id': 0,
        agent0: 'lib/libpltfm_mgr.so',
        p4_programs: [
          {
            'program-name': program,
            'bfrt-config': `${dir}/bf-rt.json`,
            p4_pipelines: [
              {
                p4_pipeline_name: 'pipe',
                context: `${dir}/pipe/context.json`,
                config: `${dir}/pipe/${family}.bin`,
                pipe_scope: [0, 1, 2, 3],
                path: dir,
              },
            ],
          },
        ],
      },
    ],
  });

describe('compile-p4', () => {
  it('tf1: tofino/tna into the SDE layout, bfas makes tofino.bin, program named tna_load_balancer', async () => {
    const inst = fakeInstall();
    const p = await compileP4({ arch: 'tf1', sdeInstall: inst, source, log: () => {} });
    expect(p).toEqual(defaultPaths('tf1', inst));
    const calls = readFileSync(join(inst, 'calls.log'), 'utf8');
    expect(calls).toMatch(
      /^bf-p4c --std p4-16 --target tofino --arch tna -o \S+share\/tofinopd\/tna_load_balancer --bf-rt-schema \S+\/bf-rt.json/m,
    );
    expect(calls).toMatch(/\/tna_load_balancer\.p4$/m);
    expect(calls).toMatch(/^bfas \S+\/pipe\/tna_load_balancer\.bfa -o \S+\/pipe$/m);
    expect(JSON.parse(readFileSync(p.contextJson, 'utf8')).program_name).toBe('tna_load_balancer');
    expect(existsSync(join(inst, 'share/tofinopd/tna_load_balancer/pipe/tofino.bin'))).toBe(true);
  });

  it('tf2: tofino2/t2na, paths from the conf, tofino.bin renamed to tofino2.bin', async () => {
    const inst = fakeInstall();
    const confFile = join(root, 't2na.conf');
    writeFileSync(confFile, conf('t2na_load_balancer', 'tofino2', 'share/p4cf/t2na_load_balancer'));
    const p = await compileP4({ arch: 'tf2', sdeInstall: inst, source, conf: confFile, log: () => {} });
    expect(p.outDir).toBe(join(inst, 'share/p4cf/t2na_load_balancer'));
    expect(readFileSync(join(inst, 'calls.log'), 'utf8')).toMatch(/--target tofino2 --arch t2na/);
    expect(existsSync(join(p.outDir, 'pipe/tofino2.bin'))).toBe(true);
    expect(existsSync(join(p.outDir, 'pipe/tofino.bin'))).toBe(false);
  });

  it('reports a conf that does not fit the compiler output layout or the ARCH', () => {
    const inst = '/opt/sde/install';
    const bad = JSON.parse(conf('tna_load_balancer', 'tofino'));
    bad.p4_devices[0].p4_programs[0].p4_pipelines[0].config = 'share/elsewhere/tofino.bin';
    expect(() => pathsFromConf(JSON.stringify(bad), 'x.conf', 'tf1', inst)).toThrow(
      /x\.conf: paths do not fit one compiler output folder .*config \/opt\/sde\/install\/share\/elsewhere\/tofino\.bin/,
    );
    expect(() => pathsFromConf(conf('tna_load_balancer', 'tofino'), 'y.conf', 'tf2', inst)).toThrow(
      /no p4_programs entry with program-name t2na_load_balancer \(ARCH=tf2\); found: tna_load_balancer/,
    );
    expect(() => pathsFromConf(conf('t2na_load_balancer', 'tofino'), 'z.conf', 'tf2', inst)).toThrow(
      /chip_family tofino but ARCH=tf2 needs tofino2/,
    );
    expect(() => pathsFromConf('{', 'w.conf', 'tf1', inst)).toThrow(/w\.conf is not JSON/);
  });

  it('names missing tools and outputs', async () => {
    const empty = mkdtempSync(join(root, 'empty-'));
    await expect(compileP4({ arch: 'tf1', sdeInstall: empty, source, log: () => {} })).rejects.toThrow(
      /P4 compiler not found: neither \S+\/bin\/bf-p4c nor \S+\/bin\/p4c-barefoot/,
    );
    const noBfas = fakeInstall({ noBfas: true });
    await expect(compileP4({ arch: 'tf1', sdeInstall: noBfas, source, log: () => {} })).rejects.toThrow(
      /assembler not found: \S+\/bin\/bfas/,
    );
    const failing = fakeInstall({ compilerFails: true });
    await expect(compileP4({ arch: 'tf1', sdeInstall: failing, source, log: () => {} })).rejects.toThrow(
      /failed for tna_load_balancer \(exit 1\):\nerror: table node_selector does not fit/,
    );
  });
});

describe("the repository's switchd confs", () => {
  for (const arch of ['tf1', 'tf2'] as const) {
    const program = programForArch(arch);
    const file = join(repo, 'p4', 'conf', `${program}.conf`);
    if (!existsSync(file)) console.warn(`skipping the ${program}.conf check: ${file} does not exist`);
    it.skipIf(!existsSync(file))(`${program}.conf names paths the compiler writes, for ${arch}`, () => {
      const p = pathsFromConf(readFileSync(file, 'utf8'), file, arch, '/opt/sde/install');
      expect(p.program).toBe(program);
      expect(p.outDir.startsWith('/opt/sde/install/share/')).toBe(true);
      expect(p.binary).toBe(join(p.outDir, 'pipe', arch === 'tf1' ? 'tofino.bin' : 'tofino2.bin'));
      // Hardware conf: switchd must load the platform manager to reach the ASIC.
      expect(JSON.parse(readFileSync(file, 'utf8')).p4_devices[0].agent0).toBe('lib/libpltfm_mgr.so');
    });
  }
});
