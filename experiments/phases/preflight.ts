// preflight: every host answers over SSH, can run root commands (sudo -n when the login user is
// not root), has the tools the later phases call in versions that work (Node.js, podman, CRIU,
// the container runtime podman is configured with), and the servers have their switch and
// direct-link NICs. Versions and runtimes go into manifest.json. Every problem of every host is
// reported at once, so one run shows the whole list.
import type { Phase, RunContext } from '../../lib/run/phases.ts';
import { sshKeyOf } from '../../lib/run/context.ts';
import { serverNode } from '../../lib/server/net.ts';
import { refuseLeftovers } from '../../lib/modes/hw/leftovers.ts';
import { workloadFor } from '../workloads/index.ts';

// `version` is a shell snippet printing one line; only run when the tool exists. Tools sharing an
// `either` group are alternatives: one of them is enough.
type Tool = { name: string; version: string; either?: string };

const T = (name: string, version = `${name} --version 2>&1 | head -n1`): Tool => ({ name, version });

const SERVER_TOOLS: Tool[] = [
  T('node'),
  T('podman'),
  T('criu', 'criu --version 2>&1 | grep -i version | head -n1'),
  // the runtime podman uses decides; crun's last line lists its features (+CRIU)
  { ...T('runc', 'runc --version 2>&1 | head -n1'), either: 'runtime' },
  { ...T('crun', `crun --version 2>&1 | sed -n '1p;$p' | tr '\\n' ' '`), either: 'runtime' },
  T('ip', 'ip -V 2>&1 | head -n1'),
  T('nsenter'),
  T('socat', 'socat -V 2>&1 | grep -i "socat version" | head -n1'),
  T('ss', 'ss -V 2>&1 | head -n1'),
  // the direct-link check before each migration (lib/migration/precheck.ts)
  T('ping'),
];
// nft or iptables: either can hold the RST-drop rule.
const FIREWALL_TOOLS: Tool[] = [
  { ...T('nft'), either: 'firewall' },
  { ...T('iptables'), either: 'firewall' },
];
const LOCAL_SWITCH_TOOLS: Tool[] = [T('node'), T('ip', 'ip -V 2>&1 | head -n1'), T('nft')];
const HW_SWITCH_TOOLS: Tool[] = [T('node')];

/** The controller, the stream server and the load generator are Node programs (bundled for this major). */
export const NODE_MAJOR_NEEDED = 20;
/** CRIU that can dump on current kernels and restore a podman container with established TCP. */
export const CRIU_NEEDED = [4, 2] as const;
/** podman with `container checkpoint --export` / `restore --import` as the migration calls them. */
export const PODMAN_NEEDED = [4, 0] as const;
export const RUNTIMES = ['runc', 'crun'] as const;

/** One shell script printing `name=version` or `name=MISSING` per tool, plus the kernel. */
export function probeScript(tools: Tool[]): string {
  const lines = tools.map(
    (t) =>
      `if command -v ${t.name} >/dev/null 2>&1; then echo "${t.name}=$(${t.version} | tr -d '\\n')"; else echo "${t.name}=MISSING"; fi`,
  );
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

/** The first dotted version number in a tool's version line ("Version: 4.2" → [4, 2]). */
export function versionOf(text: string | undefined): number[] | undefined {
  const m = /(\d+)\.(\d+)(?:\.(\d+))?/.exec(text ?? '');
  return m
    ? m
        .slice(1)
        .filter((x) => x !== undefined)
        .map(Number)
    : undefined;
}

const atLeast = (v: number[], min: readonly number[]) => {
  for (let i = 0; i < min.length; i++) if ((v[i] ?? 0) !== min[i]) return (v[i] ?? 0) > min[i];
  return true;
};
const present = (v: string | undefined) => Boolean(v) && v !== 'MISSING';

/** What is wrong with a host's versions (as probed) for its role; runtime: podman's OCI runtime name. */
export function versionProblems(role: 'server' | 'switch', v: Record<string, string>, runtime?: string): string[] {
  const problems: string[] = [];
  const need = (tool: string, min: readonly number[], why: string) => {
    if (!present(v[tool])) return; // reported as a missing tool
    const got = versionOf(v[tool]);
    if (!got) problems.push(`${tool}: cannot read a version from ${JSON.stringify(v[tool])}; ${why} needs >= ${min.join('.')}`);
    else if (!atLeast(got, min)) problems.push(`${tool} ${got.join('.')} is too old: ${why} needs >= ${min.join('.')}`);
  };
  need('node', [NODE_MAJOR_NEEDED], role === 'switch' ? 'the controller' : 'the stream server and the load generator');
  if (role === 'switch') return problems;
  need('podman', PODMAN_NEEDED, 'checkpoint --export / restore --import');
  need('criu', CRIU_NEEDED, 'checkpointing a container with established TCP connections on this kernel');
  if (runtime === undefined) return problems;
  if (!(RUNTIMES as readonly string[]).includes(runtime)) {
    problems.push(
      `podman's OCI runtime is ${JSON.stringify(runtime)} (podman info .Host.OCIRuntime.Name): p4cf checkpoints with ${RUNTIMES.join(' or ')}`,
    );
  } else if (!present(v[runtime])) {
    problems.push(`podman is configured with ${runtime}, but ${runtime} is not in PATH`);
  } else if (runtime === 'crun' && /-CRIU\b/.test(v.crun)) {
    problems.push(
      `crun was built without CRIU support (${v.crun.replace(/^.*?(\S*CRIU\S*).*$/, '$1')}): it cannot checkpoint; install a crun with +CRIU or configure podman with runc`,
    );
  }
  return problems;
}

interface HostCheck {
  host: string;
  problems: string[];
  versions: Record<string, string>;
}
/** tofino or a server. */
type Target = string;

export function sudoersHint(user: string): string {
  return `${user} ALL=(ALL) NOPASSWD: ALL`;
}

async function checkHost(ctx: RunContext, name: Target, tools: Tool[], extra: () => Promise<string[]>): Promise<HostCheck> {
  const on = ctx.on(name);
  const user = ctx.config[sshKeyOf(ctx.config, name)!].user;
  const problems: string[] = [];
  let versions: Record<string, string> = {};
  try {
    // Root commands go through sudo -n: without a rule for this user every later phase would fail.
    if (ctx.host(name).sudo) {
      const s = await on({ sudo: false, timeoutMs: 15_000 })`sudo -n true`.nothrow();
      if (!s.ok && !ctx.dryRun) {
        return {
          host: name,
          versions,
          problems: [
            `user ${user} cannot run commands as root without a password (sudo -n true: ${(s.stderr || s.stdout).trim().split('\n').pop() || `exit ${s.exitCode}`}). ` +
              `Add the line "${sudoersHint(user)}" with: sudo visudo -f /etc/sudoers.d/p4cf (or log in as root, or set SUDO=never if ${user} can run podman, ip and criu itself)`,
          ],
        };
      }
    }
    versions = parseProbe((await on.script(probeScript(tools)).timeout(30_000)).stdout);
  } catch (e) {
    return { host: name, problems: [`not reachable or probe failed: ${(e as Error).message}`], versions };
  }
  const missing = (t: Tool) => !present(versions[t.name]);
  for (const t of tools) {
    const alternatives = t.either ? tools.filter((u) => u.either === t.either) : [t];
    if (alternatives.every(missing) && alternatives[0] === t)
      problems.push(`missing tool: ${alternatives.map((u) => u.name).join(' or ')}`);
  }
  let runtime: string | undefined;
  if (name !== 'tofino') {
    const r = await on`podman info --format ${'{{.Host.OCIRuntime.Name}}'}`.nothrow().dryRun('runc');
    if (r.ok && r.stdout.trim()) {
      runtime = r.stdout.trim();
      versions.runtime = present(versions[runtime]) ? `${runtime} (${versions[runtime]})` : runtime;
    } else if (present(versions.podman))
      problems.push(`podman info failed (exit ${r.exitCode}): ${r.stderr.trim().split('\n').pop() ?? ''}`);
  }
  problems.push(...versionProblems(name === 'tofino' ? 'switch' : 'server', versions, runtime));
  problems.push(...(await extra()));
  // A dry run prints the checks; their (empty) answers say nothing about the hosts.
  return ctx.dryRun ? { host: name, problems: [], versions: {} } : { host: name, problems, versions };
}

async function missingLinks(ctx: RunContext, name: Target, nics: string[]): Promise<string[]> {
  const problems: string[] = [];
  for (const n of [...new Set(nics)]) {
    const r = await ctx.on(name)`ip -o link show dev ${n}`.nothrow();
    if (!r.ok) problems.push(`interface ${n} does not exist (${r.stderr.trim().split('\n').pop() || `ip exit ${r.exitCode}`})`);
  }
  return problems;
}

/** The files the workload's image is built from on lakewood (the images phase), e.g. redis-server. */
async function missingImageSources(ctx: RunContext, host: string): Promise<string[]> {
  const w = workloadFor(ctx.config);
  const problems: string[] = [];
  for (const s of w.imageSources ?? []) {
    const r = await ctx.on(host)`test -x ${s.path}`.nothrow();
    if (!r.ok) problems.push(`${s.path} is missing: WORKLOAD=${w.name} builds its server image from it (${s.hint})`);
  }
  return problems;
}

export const phase: Phase = {
  name: 'preflight',
  description: 'SSH reachability, sudo, required tools and versions (Node.js, podman, CRIU, container runtime), NICs present',
  hosts: (ctx) => ['tofino', ...ctx.config.SERVERS],
  reads: [],
  writes: [],
  async run(ctx) {
    const { config, onTofino } = ctx;
    const hw = config.TESTBED === 'hw';
    const serverTools = [...SERVER_TOOLS, ...FIREWALL_TOOLS];
    const checks = await Promise.all([
      checkHost(ctx, 'tofino', hw ? HW_SWITCH_TOOLS : LOCAL_SWITCH_TOOLS, async () => {
        if (!hw) return [];
        // The hardware switch runs switchd from the SDE rather than an nft data plane.
        const r =
          await onTofino`for p in ${config.SDE} ${config.SDE_INSTALL}/bin/bf_switchd; do [ -e "$p" ] || echo "$p"; done`.nothrow();
        return r
          .lines()
          .filter(Boolean)
          .map((p) => `SDE path missing: ${p} (SDE / SDE_INSTALL)`);
      }),
      // every server at once: the phase takes as long as the slowest host, not their sum
      ...config.SERVERS.map((name, i) =>
        checkHost(ctx, name, serverTools, async () => {
          const node = serverNode(config, name);
          return [
            ...(await missingLinks(ctx, name, [node.nic, node.directIf])),
            // the image is built on the first server
            ...(i === 0 ? await missingImageSources(ctx, name) : []),
          ];
        }),
      ),
    ]);
    for (const c of checks) {
      if (Object.keys(c.versions).length) {
        ctx.manifest?.setVersions(c.host, c.versions);
        ctx.log.step(
          'preflight',
          `${c.host}: ${Object.entries(c.versions)
            .map(([k, v]) => `${k} ${v.replace(/^(\S+ )?version /i, '')}`)
            .join(', ')}`,
        );
      }
    }
    ctx.manifest?.setVersions('local', { node: process.version, platform: `${process.platform} ${process.arch}` });
    const bad = checks.filter((c) => c.problems.length);
    if (bad.length)
      throw new Error(
        `preflight failed on ${bad.map((c) => c.host).join(', ')}:\n` +
          bad.map((c) => `  ${c.host}:\n${c.problems.map((p) => `    - ${p}`).join('\n')}`).join('\n'),
      );
    if (hw) await refuseLeftovers(ctx); // other tools' container, controller, switchd, shim (issue 11 2d)
    ctx.log.step(
      'preflight',
      ctx.dryRun ? 'dry run: checks printed, not evaluated' : 'all hosts reachable, tools present, NICs present',
    );
  },
};
