// Stand-in for the SDE's P4 compiler (bf-p4c) in the emulated lab, installed, bundled, as
// $SDE_INSTALL/bin/bf-p4c. It takes the arguments hw/compile-p4.ts passes the real driver and is
// strict about them, but only "compiles" the repository's load balancer: it checks the source and
// every file it includes, then writes what the real compiler writes where the real one writes it:
//   --bf-rt-schema FILE        the program's bf-rt.json (the repository's p4/<program>.bf-rt.json,
//                              which the switch model implements)
//   -o DIR                     DIR/pipe/context.json and DIR/pipe/<tofino|tofino2>.bin (placeholders
//                              naming the program; no ASIC reads them here)
//   --p4runtime-files FILE     a P4Info placeholder
// The program is named after the source file (as p4c does): tna_load_balancer for --arch tna,
// t2na_load_balancer for --arch t2na. The sources it accepts are recorded (sha256) beside it.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const TARGETS: Record<string, { arch: string; program: string; family: string; define: string }> = {
  tofino: { arch: 'tna', program: 'tna_load_balancer', family: 'tofino', define: '1' },
  tofino2: { arch: 't2na', program: 't2na_load_balancer', family: 'tofino2', define: '2' },
};
// What <…> resolves to in the real SDE's p4include; the emulated compiler has no such headers.
const SYSTEM_INCLUDES = new Set(['core.p4', 'tna.p4', 't2na.p4', 't3na.p4']);

function fail(msg: string): never {
  console.error(`bf-p4c: error: ${msg}`);
  process.exit(1);
}

/** The quoted #include files of a source, resolved like the preprocessor: beside the includer, then -I dirs. */
export function includedFiles(
  file: string,
  text: string,
  includeDirs: string[],
): { found: string[]; missing: string[]; system: string[] } {
  const found: string[] = [];
  const missing: string[] = [];
  const system: string[] = [];
  for (const m of text.matchAll(/^\s*#\s*include\s+(?:"([^"]+)"|<([^>]+)>)/gm)) {
    if (m[2]) {
      system.push(m[2]);
      continue;
    }
    const cands = isAbsolute(m[1]) ? [m[1]] : [join(dirname(file), m[1]), ...includeDirs.map((d) => join(d, m[1]))];
    const hit = cands.find((c) => existsSync(c));
    if (hit) found.push(resolve(hit));
    else missing.push(`${m[1]} (included from ${file}; looked in ${cands.map(dirname).join(', ')})`);
  }
  return { found, missing, system };
}

function parseOptions() {
  try {
    return parseArgs({
      args: process.argv.slice(2),
      allowPositionals: true,
      strict: true,
      options: {
        std: { type: 'string' },
        target: { type: 'string' },
        arch: { type: 'string' },
        o: { type: 'string', short: 'o' },
        'bf-rt-schema': { type: 'string' },
        'p4runtime-files': { type: 'string' },
        I: { type: 'string', short: 'I', multiple: true },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean' },
      },
    });
  } catch (e) {
    return fail((e as Error).message);
  }
}

function main(): void {
  const parsed = parseOptions();
  const v = parsed.values;
  if (v.help) {
    console.log(
      'usage: bf-p4c --std p4-16 --target tofino|tofino2 --arch tna|t2na [-o DIR] [--bf-rt-schema FILE] [--p4runtime-files FILE] [-I DIR]... SOURCE.p4',
    );
    return;
  }
  if (v.version) {
    console.log('bf-p4c (p4cf emulated lab stand-in)');
    return;
  }
  if (v.std !== undefined && v.std !== 'p4-16') fail(`--std ${v.std}: this compiler only takes P4-16 sources (--std p4-16)`);
  const target = v.target ?? 'tofino';
  const t = TARGETS[target];
  if (!t) fail(`--target ${target}: expected tofino or tofino2`);
  const arch = v.arch ?? t.arch;
  if (arch !== t.arch) fail(`--arch ${arch} does not fit --target ${target} (expected --arch ${t.arch})`);
  if (parsed.positionals.length !== 1)
    fail(`expected exactly one P4 source file, got ${parsed.positionals.length}: ${parsed.positionals.join(' ') || 'none'}`);
  const source = resolve(parsed.positionals[0]);
  if (!source.endsWith('.p4')) fail(`${parsed.positionals[0]}: expected a .p4 source`);
  if (!existsSync(source)) fail(`${parsed.positionals[0]}: no such file`);
  const program = basename(source, '.p4');
  if (program !== t.program)
    fail(`program ${program} (named after ${basename(source)}): for --target ${target} this compiler builds ${t.program} only`);
  const includeDirs = (v.I ?? []).map((d) => resolve(d));
  for (const d of includeDirs) if (!existsSync(d)) fail(`-I ${d}: no such directory`);

  // Follow the quoted includes; the sources must be the load balancer the model implements.
  const here = dirname(fileURLToPath(import.meta.url));
  const accepted = new Set(
    readFileSync(join(here, 'accepted-sources.sha256'), 'utf8')
      .split('\n')
      .map((l) => l.split(/\s+/)[0])
      .filter(Boolean),
  );
  const seen = new Set<string>();
  const queue = [source];
  const unknown: string[] = [];
  const systemIncludes = new Set<string>();
  while (queue.length) {
    const f = queue.shift()!;
    if (seen.has(f)) continue;
    seen.add(f);
    const text = readFileSync(f, 'utf8');
    const inc = includedFiles(f, text, includeDirs);
    if (inc.missing.length) fail(`#include not found: ${inc.missing.join('; ')}`);
    for (const s of inc.system) systemIncludes.add(s);
    queue.push(...inc.found);
    if (f !== source && !accepted.has(createHash('sha256').update(text).digest('hex'))) unknown.push(f);
  }
  for (const s of systemIncludes)
    if (!SYSTEM_INCLUDES.has(s)) fail(`#include <${s}>: not an SDE header (expected one of ${[...SYSTEM_INCLUDES].join(', ')})`);
  if (!systemIncludes.has(`${t.arch}.p4`))
    fail(`${basename(source)} does not include <${t.arch}.p4> (needed for --arch ${t.arch})`);
  if (seen.size < 2 || unknown.length) {
    fail(
      `the emulated compiler only builds the repository's p4/load_balancer.p4 (and its common/*.p4); ${unknown.length ? `unknown source: ${unknown.join(', ')}` : 'the source includes no program'}`,
    );
  }

  const outDir = resolve(v.o ?? `${program}.${target}`);
  const pipeDir = join(outDir, 'pipe');
  mkdirSync(pipeDir, { recursive: true });
  const bfrt = readFileSync(join(here, `${program}.bf-rt.json`), 'utf8');
  if (v['bf-rt-schema']) {
    mkdirSync(dirname(resolve(v['bf-rt-schema'])), { recursive: true });
    writeFileSync(v['bf-rt-schema'], bfrt);
  }
  writeFileSync(
    join(pipeDir, 'context.json'),
    `${JSON.stringify({ program_name: program, target, arch, compiler_version: 'p4cf-emulated', __TARGET_TOFINO__: t.define, tables: [] }, null, 2)}\n`,
  );
  writeFileSync(join(pipeDir, `${t.family}.bin`), `P4CF EMULATED ${t.family} binary for ${program}: no ASIC loads this\n`);
  if (v['p4runtime-files']) writeFileSync(v['p4runtime-files'], `# P4Info placeholder for ${program} (p4cf emulated compiler)\n`);
  console.log(`bf-p4c (emulated): ${program} for ${target}/${arch} → ${outDir}`);
}

main();
