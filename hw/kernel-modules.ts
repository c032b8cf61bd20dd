// Load the Barefoot kernel modules with the SDE's own load scripts and report which are loaded.
//
// switchd reaches the ASIC through these modules (bf_kdrv: the PCIe/FPGA driver behind
// /dev/fpga0; bf_kpkt: kernel packet path; bf_knet: kernel network interfaces). They are not
// loaded after a reboot unless a service does it, and switchd then fails with "device not found".
// Each has a script $SDE_INSTALL/bin/<module>_mod_load that takes $SDE_INSTALL as argument.
// bf_kdrv and bf_kpkt both bind the ASIC's PCIe device: SDE setups usually load one of them
// (bf_kpkt when the CPU port should be a kernel netdev) — choose with --modules.
import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { $v, cliMain, requireFile } from './cli.ts';

export const ALL_MODULES = ['bf_kdrv', 'bf_kpkt', 'bf_knet'] as const;
/** Either of these gives switchd access to the ASIC. */
export const ASIC_DRIVERS = ['bf_kdrv', 'bf_kpkt'];

export interface ProcModule {
  name: string;
  size: number;
  refcount: number;
  state: string;
}

/** Parse /proc/modules text: `name size refcount deps state address [taint]` per line. */
export function parseProcModules(text: string): Map<string, ProcModule> {
  const mods = new Map<string, ProcModule>();
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length < 5 || !/^\w+$/.test(f[0]) || !/^\d+$/.test(f[1])) continue;
    mods.set(f[0], { name: f[0], size: Number(f[1]), refcount: Number(f[2]), state: f[4] });
  }
  return mods;
}

export interface ModuleStatus {
  name: string;
  loaded: boolean;
  state?: string;
}

export function moduleStatus(procText: string, modules: readonly string[] = ALL_MODULES): ModuleStatus[] {
  const mods = parseProcModules(procText);
  return modules.map((name) => {
    const m = mods.get(name);
    return { name, loaded: m !== undefined && m.state === 'Live', state: m?.state };
  });
}

export function formatStatus(status: ModuleStatus[]): string {
  const lines = status.map((s) => `${s.name.padEnd(8)} ${s.loaded ? 'loaded' : s.state ? `present (${s.state})` : 'not loaded'}`);
  const asic = status.some((s) => ASIC_DRIVERS.includes(s.name) && s.loaded);
  lines.push(
    `ASIC driver (${ASIC_DRIVERS.join(' or ')}): ${asic ? 'present' : 'MISSING — switchd will fail with "device not found"'}`,
  );
  return lines.join('\n');
}

export function parseModuleList(csv: string): string[] {
  const mods = csv
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const bad = mods.filter((m) => !(ALL_MODULES as readonly string[]).includes(m));
  if (bad.length || !mods.length)
    throw new Error(`bad --modules ${JSON.stringify(csv)}: expected a comma list of ${ALL_MODULES.join(', ')}`);
  return mods;
}

export const loadScript = (sdeInstall: string, mod: string) => join(sdeInstall, 'bin', `${mod}_mod_load`);

/**
 * Load every module of `modules` that /proc/modules does not list yet, in order. All needed load
 * scripts are checked before the first one runs. Each load is verified in /proc/modules afterwards;
 * failures are collected and thrown together (with the script's exit code and stderr tail).
 */
export async function loadModules(opts: {
  sdeInstall: string;
  modules?: readonly string[];
  procModules?: string;
}): Promise<ModuleStatus[]> {
  const proc = opts.procModules ?? '/proc/modules';
  const modules = opts.modules ?? ALL_MODULES;
  const read = () => moduleStatus(readFileSync(proc, 'utf8'), modules);
  if (!opts.sdeInstall) throw new Error('SDE_INSTALL is not set: pass --sde-install or export SDE_INSTALL');
  const todo = read()
    .filter((s) => !s.loaded)
    .map((s) => s.name);
  const unusable = todo.filter((m) => {
    const s = loadScript(opts.sdeInstall, m);
    if (!existsSync(s)) return true;
    try {
      accessSync(s, constants.X_OK);
      return false;
    } catch {
      return true;
    }
  });
  if (unusable.length) {
    throw new Error(
      `load scripts missing or not executable (is SDE_INSTALL ${opts.sdeInstall} a hardware build?):\n` +
        unusable.map((m) => `  ${loadScript(opts.sdeInstall, m)}`).join('\n'),
    );
  }
  const failures: string[] = [];
  for (const m of todo) {
    const r = await $v({ nothrow: true })`${loadScript(opts.sdeInstall, m)} ${opts.sdeInstall}`;
    const now = read().find((s) => s.name === m);
    if (r.exitCode !== 0 || !now?.loaded) {
      const why = r.exitCode !== 0 ? `exit ${r.exitCode}` : 'exit 0 but not Live in /proc/modules';
      failures.push(
        `${m}: ${loadScript(opts.sdeInstall, m)} ${opts.sdeInstall} → ${why}: ${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' | ')}`,
      );
    }
  }
  const status = read();
  if (failures.length)
    throw new Error(`could not load ${failures.length} module(s):\n  ${failures.join('\n  ')}\n${formatStatus(status)}`);
  return status;
}

const USAGE = `
Usage: npx tsx hw/kernel-modules.ts [--status] [--sde-install DIR] [--modules ${ALL_MODULES.join(',')}]

Loads the Barefoot kernel modules that are not loaded yet, each with its SDE script
DIR/bin/<module>_mod_load DIR, then reports which are loaded (from /proc/modules).
bf_kdrv and bf_kpkt both bind the ASIC's PCIe device; most setups load one of them.

  --status            only report, load nothing
  --sde-install DIR   SDE install prefix (default: $SDE_INSTALL)
  --modules LIST      modules to load, in order (default: ${ALL_MODULES.join(',')})
  --proc-modules F    read module state from F instead of /proc/modules (for testing)
  -h, --help          this text
`;

cliMain(
  import.meta.url,
  {
    status: { type: 'boolean' },
    'sde-install': { type: 'string' },
    modules: { type: 'string' },
    'proc-modules': { type: 'string' },
  },
  USAGE,
  async ({ values }) => {
    const modules = values.modules ? parseModuleList(values.modules) : [...ALL_MODULES];
    const proc = values['proc-modules'] ?? '/proc/modules';
    requireFile(proc, 'module list');
    if (values.status) {
      console.log(formatStatus(moduleStatus(readFileSync(proc, 'utf8'), modules)));
      return;
    }
    const status = await loadModules({
      sdeInstall: values['sde-install'] ?? process.env.SDE_INSTALL ?? '',
      modules,
      procModules: proc,
    });
    console.log(formatStatus(status));
  },
);
