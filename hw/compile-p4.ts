// Compile p4/load_balancer.p4 for the switch with the SDE's compiler, into the paths the switchd
// conf names.
//
// bf-p4c (the p4c-barefoot driver) writes <out>/bf-rt.json (with --bf-rt-schema),
// <out>/<pipe>/context.json and the .bfa; the assembler bfas turns the .bfa into
// <out>/<pipe>/tofino.bin (tofino2.bin for tf2) when the driver has not already. switchd finds
// these through its conf (bfrt-config, context, config — relative to --install-dir), so the output
// folder is taken from the conf, and a conf whose three paths do not fit one output folder is
// reported instead of compiling somewhere switchd will not look.
//
// The compiler names the program after the source file; switchd and the controller expect
// tna_load_balancer / t2na_load_balancer, so a one-line wrapper <program>.p4 includes the source.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { $ } from 'zx';
import { cliMain, requireFile } from './cli.ts';
import { tail } from '../lib/run/text.ts';
import { programForArch } from '../p4/assets.ts';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const DEFAULT_SOURCE = join(repo, 'p4', 'load_balancer.p4');

export type Arch = 'tf1' | 'tf2';
export const TARGETS = {
  tf1: { target: 'tofino', arch: 'tna', family: 'tofino', pd: 'tofinopd' },
  tf2: { target: 'tofino2', arch: 't2na', family: 'tofino2', pd: 'tofino2pd' },
} as const;

export interface BuildPaths {
  program: string;
  /** Output folder given to bf-p4c -o. */
  outDir: string;
  pipeline: string;
  bfrtJson: string;
  contextJson: string;
  binary: string;
  /** Where the paths came from: the conf file, or the SDE's default layout. */
  from: string;
}

/** The SDE's default layout: $SDE_INSTALL/share/<tofinopd|tofino2pd>/<program>/. */
export function defaultPaths(arch: Arch, sdeInstall: string): BuildPaths {
  const t = TARGETS[arch];
  const program = programForArch(arch);
  const outDir = join(sdeInstall, 'share', t.pd, program);
  return {
    program,
    outDir,
    pipeline: 'pipe',
    bfrtJson: join(outDir, 'bf-rt.json'),
    contextJson: join(outDir, 'pipe', 'context.json'),
    binary: join(outDir, 'pipe', `${t.family}.bin`),
    from: `default SDE layout (${relative(sdeInstall, outDir)})`,
  };
}

/**
 * Output paths from a switchd conf (JSON): p4_devices[0].p4_programs[] entry for the program,
 * its bfrt-config and first p4_pipelines entry (context, config), resolved against
 * `sdeInstall` like switchd's --install-dir. Throws naming every inconsistency.
 */
export function pathsFromConf(confText: string, confLabel: string, arch: Arch, sdeInstall: string): BuildPaths {
  const program = programForArch(arch);
  const t = TARGETS[arch];
  let conf: any;
  try {
    conf = JSON.parse(confText);
  } catch (e) {
    throw new Error(`${confLabel} is not JSON: ${(e as Error).message}`);
  }
  const programs: any[] = (conf?.p4_devices ?? []).flatMap((d: any) => d?.p4_programs ?? []);
  const entry = programs.find((p) => p?.['program-name'] === program);
  if (!entry) {
    const names = programs.map((p) => p?.['program-name']).filter(Boolean);
    throw new Error(
      `${confLabel}: no p4_programs entry with program-name ${program} (ARCH=${arch}); found: ${names.length ? names.join(', ') : 'none'}`,
    );
  }
  const pipe = entry.p4_pipelines?.[0];
  const problems: string[] = [];
  for (const [k, v] of [
    ['bfrt-config', entry['bfrt-config']],
    ['context', pipe?.context],
    ['config', pipe?.config],
  ] as const) {
    if (typeof v !== 'string' || !v) problems.push(`missing ${k}`);
  }
  const chip = conf?.chip_list?.[0]?.chip_family;
  if (chip && String(chip).toLowerCase() !== t.family) problems.push(`chip_family ${chip} but ARCH=${arch} needs ${t.family}`);
  if (problems.length) throw new Error(`${confLabel}: ${problems.join('; ')}`);
  const abs = (p: string) => (isAbsolute(p) ? p : join(sdeInstall, p));
  const bfrtJson = abs(entry['bfrt-config']);
  const contextJson = abs(pipe.context);
  const binary = abs(pipe.config);
  const pipeline: string = pipe.p4_pipeline_name ?? 'pipe';
  const outDir = dirname(bfrtJson);
  // bf-p4c -o DIR writes DIR/<pipeline>/context.json and DIR/<pipeline>/<family>.bin.
  const want = { contextJson: join(outDir, pipeline, 'context.json'), binary: join(outDir, pipeline, `${t.family}.bin`) };
  const mismatch: string[] = [];
  if (contextJson !== want.contextJson) mismatch.push(`context ${contextJson} (compiler writes ${want.contextJson})`);
  if (binary !== want.binary) mismatch.push(`config ${binary} (compiler writes ${want.binary})`);
  if (mismatch.length)
    throw new Error(`${confLabel}: paths do not fit one compiler output folder ${outDir}: ${mismatch.join('; ')}`);
  return { program, outDir, pipeline, bfrtJson, contextJson, binary, from: confLabel };
}

/** Every expected output that is missing or unreadable. */
export function outputProblems(p: BuildPaths): string[] {
  const problems: string[] = [];
  for (const [what, path] of [
    ['bf-rt.json', p.bfrtJson],
    ['context.json', p.contextJson],
    ['binary', p.binary],
  ] as const) {
    if (!existsSync(path)) {
      problems.push(`${what} missing: ${path}`);
      continue;
    }
    if (what !== 'binary') {
      try {
        JSON.parse(readFileSync(path, 'utf8'));
      } catch {
        problems.push(`${what} is not valid JSON: ${path}`);
      }
    }
  }
  return problems;
}

function findBfa(dir: string): string | undefined {
  if (!existsSync(dir)) return undefined;
  return readdirSync(dir)
    .filter((n) => n.endsWith('.bfa'))
    .map((n) => join(dir, n))[0];
}

export async function compileP4(opts: {
  arch: Arch;
  sdeInstall: string;
  source?: string;
  conf?: string;
  log?: (l: string) => void;
}): Promise<BuildPaths> {
  const log = opts.log ?? ((l: string) => console.log(l));
  if (!(opts.arch in TARGETS)) throw new Error(`bad arch ${JSON.stringify(opts.arch)}: expected tf1 or tf2`);
  if (!opts.sdeInstall) throw new Error('SDE_INSTALL is not set: pass --sde-install or export SDE_INSTALL');
  const t = TARGETS[opts.arch];
  const source = resolve(opts.source ?? DEFAULT_SOURCE);
  requireFile(source, 'P4 source');
  const bin = join(opts.sdeInstall, 'bin');
  const compiler = ['bf-p4c', 'p4c-barefoot'].map((n) => join(bin, n)).find((p) => existsSync(p));
  if (!compiler)
    throw new Error(
      `P4 compiler not found: neither ${join(bin, 'bf-p4c')} nor ${join(bin, 'p4c-barefoot')} (build the SDE with a profile that has the compiler)`,
    );
  const paths = opts.conf
    ? pathsFromConf(readFileSync(opts.conf, 'utf8'), opts.conf, opts.arch, opts.sdeInstall)
    : defaultPaths(opts.arch, opts.sdeInstall);
  log(`${paths.program}: outputs per ${paths.from} → ${paths.outDir}`);

  const wrapDir = mkdtempSync(join(tmpdir(), 'p4cf-compile-'));
  try {
    const wrapper = join(wrapDir, `${paths.program}.p4`);
    writeFileSync(wrapper, `// Names the program ${paths.program}; the source is p4/load_balancer.p4.\n#include "${source}"\n`);
    mkdirSync(paths.outDir, { recursive: true });
    const env = { ...process.env, SDE_INSTALL: opts.sdeInstall, PATH: `${bin}:${process.env.PATH ?? ''}` };
    const run = $({ verbose: true, nothrow: true, env });
    const r =
      await run`${compiler} --std p4-16 --target ${t.target} --arch ${t.arch} -o ${paths.outDir} --bf-rt-schema ${paths.bfrtJson} --p4runtime-files ${join(paths.outDir, 'p4info.txt')} -I ${dirname(source)} ${wrapper}`;
    if (r.exitCode !== 0) {
      throw new Error(`${compiler} failed for ${paths.program} (exit ${r.exitCode}):\n${tail(r.stderr || r.stdout, 20)}`);
    }
    if (!existsSync(paths.binary)) {
      const pipeDir = dirname(paths.contextJson);
      const bfa = findBfa(pipeDir);
      const bfas = join(bin, 'bfas');
      if (!bfa) throw new Error(`${compiler} produced neither ${paths.binary} nor a .bfa in ${pipeDir}`);
      if (!existsSync(bfas)) throw new Error(`assembler not found: ${bfas} (needed to turn ${bfa} into ${paths.binary})`);
      const a = await run`${bfas} ${bfa} -o ${pipeDir}`;
      if (a.exitCode !== 0) throw new Error(`${bfas} ${bfa} failed (exit ${a.exitCode}):\n${tail(a.stderr || a.stdout, 20)}`);
      // bfas may name the binary tofino.bin whatever the generation; switchd's conf wants <family>.bin.
      const plain = join(pipeDir, 'tofino.bin');
      if (!existsSync(paths.binary) && existsSync(plain)) renameSync(plain, paths.binary);
    }
  } finally {
    rmSync(wrapDir, { recursive: true, force: true });
  }
  const problems = outputProblems(paths);
  if (problems.length)
    throw new Error(`compilation of ${paths.program} finished but outputs are wrong:\n  ${problems.join('\n  ')}`);
  log(`ok: ${paths.bfrtJson}\nok: ${paths.contextJson}\nok: ${paths.binary}`);
  return paths;
}

const USAGE = `
Usage: npx tsx hw/compile-p4.ts [--arch tf1|tf2] [--sde-install DIR] [--conf FILE | --no-conf] [--source FILE]

Compiles p4/load_balancer.p4 as tna_load_balancer (tf1: --target tofino --arch tna) or
t2na_load_balancer (tf2: --target tofino2 --arch t2na) with $SDE_INSTALL/bin/bf-p4c (or
p4c-barefoot) and bfas, into the folder the switchd conf names, and checks that bf-rt.json,
context.json and tofino.bin / tofino2.bin exist there.

  --arch tf1|tf2      Tofino generation (default: $ARCH, else tf1)
  --sde-install DIR   SDE install prefix (default: $SDE_INSTALL); conf paths are relative to it
  --conf FILE         switchd conf to take the output paths from (default: p4/conf/<program>.conf if present)
  --no-conf           ignore the conf; use $SDE_INSTALL/share/<tofinopd|tofino2pd>/<program>/
  --source FILE       P4 source (default: p4/load_balancer.p4)
  -h, --help          this text
`;

cliMain(
  import.meta.url,
  {
    arch: { type: 'string' },
    'sde-install': { type: 'string' },
    conf: { type: 'string' },
    'no-conf': { type: 'boolean' },
    source: { type: 'string' },
  },
  USAGE,
  async ({ values }) => {
    const arch = (values.arch ?? process.env.ARCH ?? 'tf1') as Arch;
    if (!(arch in TARGETS)) throw new Error(`bad --arch ${JSON.stringify(arch)}: expected tf1 or tf2`);
    let conf = values.conf;
    if (!conf && !values['no-conf']) {
      const guess = join(repo, 'p4', 'conf', `${programForArch(arch)}.conf`);
      if (existsSync(guess)) conf = guess;
    }
    if (conf) requireFile(conf, 'switchd conf');
    await compileP4({
      arch,
      sdeInstall: values['sde-install'] ?? process.env.SDE_INSTALL ?? '',
      source: values.source,
      conf,
    });
  },
);
