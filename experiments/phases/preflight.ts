// preflight: every host answers over SSH, has the tools the later phases call (recording their
// versions in manifest.json), and the servers have their switch and direct-link NICs. Every
// problem of every host is reported at once, so one run shows the whole list.
import type { Phase, RunContext } from '../../lib/run/phases.ts';
import { sh } from '../../lib/hosts/quote.ts';
import type { Host } from '../../lib/hosts/types.ts';

// `version` is a shell snippet printing one line; only run when the tool exists. Tools sharing an
// `either` group are alternatives: one of them is enough.
type Tool = { name: string; version: string; either?: string };

const T = (name: string, version = `${name} --version 2>&1 | head -n1`): Tool => ({ name, version });

const SERVER_TOOLS: Tool[] = [
  T('node'), T('podman'), T('criu', 'criu --version 2>&1 | grep -i version | head -n1'), T('runc', 'runc --version 2>&1 | head -n1'),
  T('ip', 'ip -V 2>&1 | head -n1'), T('nsenter'), T('socat', 'socat -V 2>&1 | grep -i "socat version" | head -n1'),
  T('ss', 'ss -V 2>&1 | head -n1'),
];
// nft or iptables: either can hold the RST-drop rule.
const FIREWALL_TOOLS: Tool[] = [{ ...T('nft'), either: 'firewall' }, { ...T('iptables'), either: 'firewall' }];
const LOCAL_SWITCH_TOOLS: Tool[] = [T('node'), T('ip', 'ip -V 2>&1 | head -n1'), T('nft')];
const HW_SWITCH_TOOLS: Tool[] = [T('node')];

/** One shell script printing `name=version` or `name=MISSING` per tool, plus the kernel. */
export function probeScript(tools: Tool[]): string {
  const lines = tools.map((t) =>
    `if command -v ${t.name} >/dev/null 2>&1; then echo "${t.name}=$(${t.version} | tr -d '\\n')"; else echo "${t.name}=MISSING"; fi`);
  return ['echo "kernel=$(uname -r)"', ...lines].join('\n');
}

export function parseProbe(stdout: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of stdout.split('\n')) {
    const i = line.indexOf('=');
    if (i > 0) out[line.slice(0, i).trim()] = line.slice(i + 1).trim();
  }
  return out;
}

interface HostCheck { host: string; problems: string[]; versions: Record<string, string> }

async function checkHost(ctx: RunContext, host: Host, tools: Tool[], extra: (h: Host) => Promise<string[]>): Promise<HostCheck> {
  const problems: string[] = [];
  let versions: Record<string, string> = {};
  try {
    const r = await host.exec(probeScript(tools), { quiet: true, timeoutMs: 30_000 });
    versions = parseProbe(r.stdout);
  } catch (e) {
    return { host: host.name, problems: [`not reachable or probe failed: ${(e as Error).message}`], versions };
  }
  const missing = (t: Tool) => !versions[t.name] || versions[t.name] === 'MISSING';
  for (const t of tools) {
    const alternatives = t.either ? tools.filter((u) => u.either === t.either) : [t];
    if (alternatives.every(missing) && alternatives[0] === t) problems.push(`missing tool: ${alternatives.map((u) => u.name).join(' or ')}`);
  }
  problems.push(...await extra(host));
  // A dry run prints the checks; their (empty) answers say nothing about the hosts.
  return ctx.dryRun ? { host: host.name, problems: [], versions: {} } : { host: host.name, problems, versions };
}

async function missingLinks(host: Host, names: string[]): Promise<string[]> {
  const problems: string[] = [];
  for (const n of [...new Set(names)]) {
    const r = await host.exec(sh`ip -o link show dev ${n}`, { quiet: true, allowFail: true });
    if (r.code !== 0) problems.push(`interface ${n} does not exist (${r.stderr.trim().split('\n').pop() || `ip exit ${r.code}`})`);
  }
  return problems;
}

export const phase: Phase = {
  name: 'preflight',
  description: 'SSH reachability, required tools and versions, NICs present',
  hosts: () => ['tofino', 'lakewood', 'loveland'],
  reads: [],
  writes: [],
  async run(ctx) {
    const { config } = ctx;
    const hw = config.TESTBED === 'hw';
    const serverTools = [...SERVER_TOOLS, ...FIREWALL_TOOLS];
    const checks = await Promise.all([
      checkHost(ctx, ctx.host('tofino'), hw ? HW_SWITCH_TOOLS : LOCAL_SWITCH_TOOLS, async (h) => {
        if (!hw) return [];
        // The hardware switch runs switchd from the SDE rather than an nft data plane.
        const r = await h.exec(sh`for p in ${config.SDE} ${config.SDE_INSTALL}/bin/bf_switchd; do [ -e "$p" ] || echo "$p"; done`, { quiet: true, allowFail: true });
        return r.stdout.split('\n').filter(Boolean).map((p) => `SDE path missing: ${p} (SDE / SDE_INSTALL)`);
      }),
      checkHost(ctx, ctx.host('lakewood'), serverTools, (h) => missingLinks(h, [config.LAKEWOOD_NIC, config.LAKEWOOD_DIRECT_IF])),
      checkHost(ctx, ctx.host('loveland'), serverTools, (h) => missingLinks(h, [config.LOVELAND_NIC, config.LOVELAND_DIRECT_IF])),
    ]);
    for (const c of checks) {
      if (Object.keys(c.versions).length) {
        ctx.manifest?.setVersions(c.host, c.versions);
        ctx.log.step('preflight', `${c.host}: ${Object.entries(c.versions).map(([k, v]) => `${k} ${v.replace(/^(\S+ )?version /i, '')}`).join(', ')}`);
      }
    }
    ctx.manifest?.setVersions('local', { node: process.version, platform: `${process.platform} ${process.arch}` });
    const bad = checks.filter((c) => c.problems.length);
    if (bad.length)
      throw new Error(`preflight failed on ${bad.map((c) => c.host).join(', ')}:\n` +
        bad.map((c) => `  ${c.host}:\n${c.problems.map((p) => `    - ${p}`).join('\n')}`).join('\n'));
    ctx.log.step('preflight', ctx.dryRun ? 'dry run: checks printed, not evaluated' : 'all hosts reachable, tools present, NICs present');
  },
};
