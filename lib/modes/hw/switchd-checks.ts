// What bf_switchd needs before it can start, checked on the switch and reported at once: the
// artifacts its conf names (bf-rt.json, context.json, the pipeline binary, the platform library),
// hugepages for its DMA pool, and — for a conf that drives the ASIC (not the model) — a Barefoot
// kernel driver and the device node it creates. Without them bf_switchd fails after a while with
// a message deep in its log; here each missing piece is named with the command that supplies it.
import { existsSync, readFileSync } from 'node:fs';
import { isAbsolute, join, posix } from 'node:path';
import { sh } from '../../hosts/quote.ts';
import type { Host } from '../../hosts/types.ts';
import type { SwitchDaemonContext } from '../switch-daemon.ts';
import { switchdConfPath } from './sde.ts';

/** What run_switchd.sh reserves (vm.nr_hugepages = 128) before it starts bf_switchd. */
const HUGEPAGES_NEEDED = 128;
/** Either driver binds the ASIC's PCIe device (hw/kernel-modules.ts). */
const ASIC_DRIVERS = ['bf_kdrv', 'bf_kpkt'] as const;

/** Where the checks read the kernel's state; tests point them at files of their own. */
export interface HwProbeFiles {
  meminfo: string;
  modules: string;
}
const HW_PROBE_FILES: HwProbeFiles = { meminfo: '/proc/meminfo', modules: '/proc/modules' };

interface ConfArtifact {
  what: string;
  key: string;
  path: string;
}

/** Every file a switchd conf names, resolved against --install-dir; `virtual` for a model conf. */
function confArtifacts(confText: string, confLabel: string, installDir: string): { artifacts: ConfArtifact[]; virtual: boolean } {
  let conf: any;
  try {
    conf = JSON.parse(confText);
  } catch (e) {
    throw new Error(`switchd conf ${confLabel} is not JSON: ${(e as Error).message}`);
  }
  const abs = (p: string) => (isAbsolute(p) ? posix.normalize(p) : posix.join(installDir, p));
  const artifacts: ConfArtifact[] = [];
  const add = (what: string, key: string, v: unknown) => {
    if (typeof v === 'string' && v) artifacts.push({ what, key, path: abs(v) });
  };
  const devices: any[] = Array.isArray(conf?.p4_devices) ? conf.p4_devices : [];
  for (const d of devices) {
    for (const k of ['agent0', 'agent1', 'agent2', 'agent3']) add('platform library', k, d?.[k]);
    for (const p of d?.p4_programs ?? []) {
      add('BF Runtime schema', 'bfrt-config', p?.['bfrt-config']);
      for (const pipe of p?.p4_pipelines ?? []) {
        add('pipeline context', 'context', pipe?.context);
        add('pipeline binary', 'config', pipe?.config);
      }
    }
  }
  if (!artifacts.some((a) => a.key === 'bfrt-config'))
    throw new Error(
      `switchd conf ${confLabel} names no p4_programs with a bfrt-config: expected p4/conf/<program>.conf's layout`,
    );
  const virtual = (conf?.chip_list ?? []).some((chip: any) => chip?.virtual === true);
  return { artifacts, virtual };
}

/** The local copy of a synced conf (dist/remote/conf comes from p4/conf), for a dry run's plan. */
function localConf(projectDir: string, confPath: string): string | undefined {
  const f = join(projectDir, 'p4', 'conf', posix.basename(confPath));
  return existsSync(f) ? readFileSync(f, 'utf8') : undefined;
}

/** Parse `key value` lines of /proc/meminfo. */
function meminfoValue(text: string, key: string): number | undefined {
  const m = text.match(new RegExp(`^${key}:\\s+(\\d+)`, 'm'));
  return m ? Number(m[1]) : undefined;
}

/** Everything that would stop bf_switchd from starting; [] when nothing. */
export async function switchdStartProblems(
  host: Host,
  c: SwitchDaemonContext,
  files: Partial<HwProbeFiles> = {},
): Promise<string[]> {
  const f = { ...HW_PROBE_FILES, ...files };
  const { config, dir } = c;
  const device = config.SWITCHD_DEVICE;
  const conf = switchdConfPath(config, dir);
  const compile = `compile it on the switch: SDE_INSTALL=${config.SDE_INSTALL} npx tsx hw/compile-p4.ts --arch ${config.ARCH} --conf <the same conf> (README, "Running on a Tofino testbed")`;
  const r = await host.exec(sh`cat ${conf}`, { quiet: true, allowFail: true, dryRunStdout: localConf(c.projectDir, conf) });
  if (r.code !== 0)
    return [
      `switchd conf ${conf} is missing on the switch (SWITCHD_CONF=${config.SWITCHD_CONF}; the sync phase uploads p4/conf/ to ${dir}/conf): ${r.stderr.trim() || `exit ${r.code}`}`,
    ];
  let parsed: ReturnType<typeof confArtifacts>;
  try {
    parsed = confArtifacts(r.stdout, conf, config.SDE_INSTALL);
  } catch (e) {
    return [(e as Error).message];
  }

  const probe = await host.exec(
    [
      ...parsed.artifacts.map((a) => sh`[ -e ${a.path} ] || echo ${`missing ${a.path}`}`),
      sh`grep -E '^HugePages_(Total|Free):' ${f.meminfo} 2>/dev/null || echo ${`nomeminfo ${f.meminfo}`}`,
      ...(parsed.virtual
        ? []
        : [
            sh`awk '$1 == "bf_kdrv" || $1 == "bf_kpkt" { print "module", $1, $5 }' ${f.modules} 2>/dev/null`,
            sh`[ -e ${device} ] && echo ${`device ${device}`}`,
          ]),
    ].join('\n'),
    {
      quiet: true,
      allowFail: true,
      dryRunStdout: `HugePages_Total: ${HUGEPAGES_NEEDED}\nHugePages_Free: ${HUGEPAGES_NEEDED}\nmodule bf_kdrv Live\ndevice ${device}`,
    },
  );
  const out = probe.stdout;
  const lines = new Set(out.split('\n').map((l) => l.trim()));
  const problems: string[] = [];
  for (const a of parsed.artifacts) {
    if (!lines.has(`missing ${a.path}`)) continue;
    problems.push(
      a.key.startsWith('agent')
        ? `${a.what} ${a.path} (${a.key} in ${conf}) is missing: the SDE was built without the platform; build it with a BSP profile (hw/write-profile.ts, hw/profile-apply.ts)`
        : `${a.what} ${a.path} (${a.key} in ${conf}) is missing: the P4 program is not compiled there; ${compile}`,
    );
  }
  const total = meminfoValue(out, 'HugePages_Total');
  const free = meminfoValue(out, 'HugePages_Free');
  const fix = `reserve them as run_switchd.sh does: sudo sysctl -w vm.nr_hugepages=${HUGEPAGES_NEEDED} (and vm.nr_hugepages = ${HUGEPAGES_NEEDED} in /etc/sysctl.conf)`;
  if (total === undefined)
    problems.push(`cannot read hugepages from ${f.meminfo}: bf_switchd needs ${HUGEPAGES_NEEDED} for its DMA pool`);
  else if (total < HUGEPAGES_NEEDED)
    problems.push(
      `hugepages: HugePages_Total is ${total} in ${f.meminfo}, bf_switchd needs ${HUGEPAGES_NEEDED} for its DMA pool; ${fix}`,
    );
  else if (!free)
    problems.push(
      `hugepages: none free (HugePages_Free 0 of ${total} in ${f.meminfo}); another process holds them (a bf_switchd not started by p4cf?)`,
    );
  // the device node is what bf_switchd opens; the modules only explain why it is missing
  if (!parsed.virtual && !lines.has(`device ${device}`)) {
    const live = [...out.matchAll(/^module (\S+) (\S+)$/gm)].filter((m) => m[2] === 'Live').map((m) => m[1]);
    const load = `sudo SDE_INSTALL=${config.SDE_INSTALL} npx tsx hw/kernel-modules.ts --modules bf_kdrv`;
    problems.push(
      live.length
        ? `device node ${device} (SWITCHD_DEVICE) is missing although ${live.join(', ')} is loaded; reload the driver (${load})`
        : `device node ${device} (SWITCHD_DEVICE) is missing and no ASIC kernel driver is loaded (neither ${ASIC_DRIVERS.join(' nor ')} in ${f.modules}); load it: ${load}`,
    );
  }
  return problems;
}
