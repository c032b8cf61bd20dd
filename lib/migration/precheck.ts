// Before a migration takes the service down, everything the way forward and the way back need
// must be alive: the controller (bound to the switch, tables programmed) to move the forward, the
// server container on the source to checkpoint, the data path through the switch, and the direct
// link to carry the checkpoint. A dead part refuses the migration with nothing changed; the same
// probes, minus the link, watch the testbed during steady and post (componentProbe).
import { loadgenHost } from './schedule.ts';
import { workloadFor } from '../../experiments/workloads/index.ts';
import { sh } from '../hosts/quote.ts';
import type { Host } from '../hosts/types.ts';
import { netTool, netToolPath } from '../nettool/index.ts';
import type { ServerName, ServerNode } from '../server/net.ts';
import { controllerFor } from '../switch/controller-client.ts';
import type { MigrationContext } from './migrate.ts';

export type LivePart = 'controller' | 'server' | 'datapath' | 'directLink';

/** A part of the live path is down: the migration was not started (or the run stops). */
export class LivePathError extends Error {
  constructor(
    public part: LivePart,
    public host: string,
    message: string,
  ) {
    super(message);
    this.name = 'LivePathError';
  }
}

/** Prints `state STATUS PID` of the container (`state missing 0` when podman does not know it). */
export const containerStateCmd = (name: string): string =>
  sh`s=$(podman inspect --format '{{.State.Status}} {{.State.Pid}}' ${name} 2>/dev/null) || s='missing 0'; echo "state $s"`;

/** The container's podman state from containerStateCmd's output; running means a PID > 1. */
export function parseContainerState(stdout: string): { status: string; pid: number; running: boolean } {
  const m = stdout.match(/^state (\S+) (\d+)\s*$/m);
  const status = m?.[1] ?? 'unknown';
  const pid = Number(m?.[2] ?? 0);
  return { status, pid, running: status === 'running' && Number.isInteger(pid) && pid > 1 };
}

/** The server container runs on `host`; else a LivePathError with podman's state. */
export async function checkServerRunning(ctx: MigrationContext, host: ServerName): Promise<number> {
  const name = ctx.config.SERVER_CONTAINER;
  const r = await ctx
    .host(host)
    .exec(containerStateCmd(name), { quiet: true, allowFail: true, timeoutMs: 15_000, dryRunStdout: 'state running 4242' });
  const s = parseContainerState(r.stdout);
  if (!s.running) {
    throw new LivePathError(
      'server',
      host,
      `server container ${name} not running on ${host} (podman state: ${s.status}${s.pid ? `, pid ${s.pid}` : ''}` +
        `${r.code !== 0 ? `; exit ${r.code} ${r.stderr.trim().split('\n').pop() ?? ''}` : ''})`,
    );
  }
  return s.pid;
}

/** The controller answers /health 200: connected and bound to the switch, tables programmed. */
export async function checkController(ctx: MigrationContext): Promise<void> {
  const ctl = controllerFor(ctx);
  const h = await ctl.health(3000);
  if (ctx.dryRun || h.status === 200) return;
  const b = (h.body ?? {}) as {
    status?: string;
    connected?: boolean;
    bound?: boolean;
    programmed?: boolean;
    applyError?: string;
  };
  const why =
    h.status === 0
      ? 'does not answer (controller process gone, or its SSH forward)'
      : `answers ${h.status}: ${b.status ?? 'not ok'} (connected ${b.connected}, bound ${b.bound}, programmed ${b.programmed}${b.applyError ? `, ${b.applyError}` : ''})`;
  throw new LivePathError('controller', 'tofino', `controller /health at ${ctl.url} ${why}`);
}

/** The workload's server answers its health check from LOADGEN_HOST through the switch (the service address: H2_IP, or the VIP). */
export async function checkDataPath(ctx: MigrationContext): Promise<void> {
  const c = ctx.config;
  const check = workloadFor(c).health(c);
  const what = check.kind === 'http' ? check.url : check.what;
  const lg = loadgenHost(c);
  const cmd = check.kind === 'http' ? netTool(netToolPath(c, lg), 'http-probe', check.url) : check.cmd;
  const probe = () => ctx.host(lg).exec(cmd, { quiet: true, allowFail: true, timeoutMs: 6000 });
  let r = await probe();
  if (r.code !== 0 && !ctx.dryRun) r = await probe(); // one lost SYN is no reason to refuse
  if (r.code !== 0 && !ctx.dryRun) {
    throw new LivePathError(
      'datapath',
      lg,
      `data path: ${what} from ${lg} through the switch does not answer (${r.stdout.trim() || r.stderr.trim().split('\n').pop() || `exit ${r.code}`})`,
    );
  }
}

/** Prints `link STATE` of the interface (up, down, lowerlayerdown, unknown, missing) and, with a peer, `peer ok|unreachable`. */
function linkProbeCmd(node: ServerNode, peerIp?: string): string {
  // netlink, not /sys/class/net: an sshd started in a network namespace sees the sysfs of another
  const lines = [
    sh`s=$(ip -br link show dev ${node.directIf} 2>/dev/null | awk '{print tolower($2)}'); echo "link \${s:-missing}"`,
  ];
  if (peerIp)
    lines.push(
      sh`if ping -n -q -c 1 -W 1 -I ${node.directIf} ${peerIp} >/dev/null 2>&1; then echo 'peer ok'; else echo "peer unreachable $?"; fi`,
    );
  return lines.join('\n');
}

/** Both ends of the direct link are up and the target reaches the source's address over it. */
export async function checkDirectLink(
  ctx: MigrationContext,
  src: { host: Host; node: ServerNode },
  dst: { host: Host; node: ServerNode },
): Promise<void> {
  const [a, b] = await Promise.all([
    src.host.exec(linkProbeCmd(src.node), { quiet: true, allowFail: true, timeoutMs: 10_000, dryRunStdout: 'link up' }),
    dst.host.exec(linkProbeCmd(dst.node, src.node.directIp), {
      quiet: true,
      allowFail: true,
      timeoutMs: 10_000,
      dryRunStdout: 'link up\npeer ok',
    }),
  ]);
  if (ctx.dryRun) return;
  const state = (out: string) => out.match(/^link (\S+)/m)?.[1] ?? 'unknown';
  const link = `direct link ${src.host.name} ${src.node.directIf} (${src.node.directIp}) ↔ ${dst.host.name} ${dst.node.directIf} (${dst.node.directIp})`;
  // operstate `unknown` is what drivers without carrier reporting (and loopback-like links) show
  const bad = [
    [src, a],
    [dst, b],
  ]
    .filter(([, r]) => !['up', 'unknown'].includes(state((r as { stdout: string }).stdout)))
    .map(
      ([e, r]) =>
        `${(e as typeof src).host.name} ${(e as typeof src).node.directIf} is ${state((r as { stdout: string }).stdout)}`,
    );
  if (bad.length)
    throw new LivePathError(
      'directLink',
      bad[0].split(' ')[0],
      `${link}: ${bad.join(', ')}; the checkpoint could not be transferred`,
    );
  if (!/^peer ok$/m.test(b.stdout)) {
    throw new LivePathError(
      'directLink',
      dst.host.name,
      `${link}: ${dst.host.name} cannot reach ${src.node.directIp} (ping over ${dst.node.directIf} failed); the checkpoint could not be transferred`,
    );
  }
}

/** Every check before a migration, in parallel; the first failure (in the order above) is raised. */
export async function checkLivePath(
  ctx: MigrationContext,
  r: { source: ServerName; src: Host; dst: Host; srcNode: ServerNode; dstNode: ServerNode },
): Promise<void> {
  const res = await Promise.allSettled([
    checkController(ctx),
    checkServerRunning(ctx, r.source),
    checkDataPath(ctx),
    checkDirectLink(ctx, { host: r.src, node: r.srcNode }, { host: r.dst, node: r.dstNode }),
  ]);
  const failed = res.find((x) => x.status === 'rejected') as PromiseRejectedResult | undefined;
  if (failed) throw failed.reason;
}

/**
 * One probe of the parts a measurement needs (steady, post): the controller and the server
 * container where state.json says it runs. Throws a LivePathError naming the dead part.
 */
export async function componentProbe(ctx: MigrationContext, where: ServerName): Promise<void> {
  await Promise.all([checkController(ctx), checkServerRunning(ctx, where)]);
}

/** countdown's `check`: componentProbe at most every `everyMs` (the wait's own tick is 1 s). */
export function componentWatch(ctx: MigrationContext, where: () => ServerName, everyMs = 2000): () => Promise<void> {
  // the first probe one interval in: the phase before has just checked the same components
  let last = Date.now();
  return async () => {
    if (ctx.dryRun || Date.now() - last < everyMs) return;
    last = Date.now();
    await componentProbe(ctx, where());
  };
}
