// Build the SDE: `p4studio profile apply <profile>` from the SDE folder, after the checks that
// save hours: the Python check (distutils, see check-python.ts), p4studio present, the profile a
// hardware profile, the BSP unwrapped into pkgsrc/bf-platforms. Output is streamed as it comes
// (the build takes hours); afterwards the install must hold bf_switchd.
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { $ } from 'zx';
import { parse } from 'yaml';
import { checkPython } from './check-python.ts';
import { cliMain, need, requireDir, requireFile } from './cli.ts';
import { tail } from '../lib/run/text.ts';

export interface ProfileFacts {
  asic: boolean;
  bspPath?: string;
  architectures: string[];
}

/** The hardware-relevant fields of a p4studio profile. */
export function profileFacts(text: string, label = 'profile'): ProfileFacts {
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (e) {
    throw new Error(`${label} is not valid YAML: ${(e as Error).message.split('\n')[0]}`);
  }
  if (!doc || typeof doc !== 'object') throw new Error(`${label} is not a YAML mapping`);
  const d = doc as Record<string, any>;
  const bsp = d.features?.['bf-platforms']?.['bsp-path'];
  return {
    asic: d['global-options']?.asic === true,
    bspPath: typeof bsp === 'string' && bsp ? bsp : undefined,
    architectures: Array.isArray(d.architectures) ? d.architectures.map(String) : [],
  };
}

/** Everything that would make a hardware `profile apply` fail or build the wrong thing. */
export function applyProblems(sdeDir: string, profile: string, facts: ProfileFacts, opts: { model?: boolean } = {}): string[] {
  const problems: string[] = [];
  const p4studio = join(sdeDir, 'p4studio', 'p4studio');
  if (!existsSync(p4studio)) {
    problems.push(
      `p4studio not found: ${p4studio} (--sde must be the open-p4studio or bf-sde-<version> folder holding p4studio/p4studio)`,
    );
  }
  if (!facts.architectures.length) problems.push(`${profile} lists no architectures (expected tofino or tofino2)`);
  if (opts.model) return problems;
  if (!facts.asic)
    problems.push(
      `${profile} does not set global-options.asic: true; write a hardware profile with hw/write-profile.ts (or pass --model for a model build)`,
    );
  if (!facts.bspPath)
    problems.push(`${profile} has no features.bf-platforms.bsp-path; write it with hw/write-profile.ts --bsp …`);
  else if (!existsSync(facts.bspPath)) problems.push(`BSP named by bsp-path not found: ${facts.bspPath}`);
  const platforms = join(sdeDir, 'pkgsrc', 'bf-platforms');
  if (!existsSync(platforms))
    problems.push(
      `${platforms} not found: unwrap the BSP first (npx tsx hw/unwrap-bsp.ts --bsp … --pkgsrc ${join(sdeDir, 'pkgsrc')})`,
    );
  return problems;
}

export async function profileApply(opts: {
  sde: string;
  profile: string;
  python?: string;
  model?: boolean;
  extraArgs?: string[];
}): Promise<void> {
  const sdeDir = resolve(opts.sde);
  requireDir(sdeDir, 'SDE folder (--sde)');
  const profile = resolve(opts.profile);
  requireFile(profile, 'profile');
  const facts = profileFacts(readFileSync(profile, 'utf8'), profile);
  const problems = applyProblems(sdeDir, profile, facts, { model: opts.model });
  if (problems.length) throw new Error(`cannot apply ${profile}:\n  - ${problems.join('\n  - ')}`);
  const python = opts.python ?? 'python3';
  const py = await checkPython(python);
  console.log(`python ok: ${python} ${py.versionText}`);
  // Run p4studio through the checked interpreter: its shebang would pick whatever python3 is first in PATH.
  const run = $({ verbose: true, cwd: sdeDir, nothrow: true });
  const r = await run`${python} ${join('p4studio', 'p4studio')} profile apply ${profile} ${opts.extraArgs ?? []}`;
  if (r.exitCode !== 0) {
    throw new Error(
      `p4studio profile apply ${profile} failed in ${sdeDir} (exit ${r.exitCode}); last lines:\n${tail(r.stderr.trim() || r.stdout, 20)}`,
    );
  }
  const switchd = join(sdeDir, 'install', 'bin', 'bf_switchd');
  if (!existsSync(switchd)) {
    throw new Error(
      `p4studio profile apply exited 0 but ${switchd} is missing: check the build log above (SDE_INSTALL is ${join(sdeDir, 'install')})`,
    );
  }
  console.log(`SDE built: SDE=${sdeDir} SDE_INSTALL=${join(sdeDir, 'install')}`);
}

const USAGE = `
Usage: npx tsx hw/profile-apply.ts --sde DIR --profile FILE [--python BIN] [--model] [-- P4STUDIO_ARGS]

Builds the SDE with \`p4studio profile apply FILE\`, run from DIR (the open-p4studio folder).
Checks first: Python <= 3.11 with distutils, DIR/p4studio/p4studio present, the profile sets
asic: true and a bsp-path that exists, and DIR/pkgsrc/bf-platforms exists (hw/unwrap-bsp.ts).
Output streams as the build runs; afterwards DIR/install/bin/bf_switchd must exist.

  --sde DIR        open-p4studio (SDE) folder
  --profile FILE   profile written by hw/write-profile.ts
  --python BIN     interpreter to run p4studio with (default python3)
  --model          allow a model (non-ASIC) profile: skip the hardware checks
  -h, --help       this text
`;

cliMain(
  import.meta.url,
  {
    sde: { type: 'string' },
    profile: { type: 'string' },
    python: { type: 'string' },
    model: { type: 'boolean' },
  },
  USAGE,
  async ({ values, positionals }) => {
    await profileApply({
      sde: need(values.sde, '--sde', 'the open-p4studio folder'),
      profile: need(values.profile, '--profile', 'the profile YAML'),
      python: values.python,
      model: Boolean(values.model),
      extraArgs: positionals,
    });
  },
);
