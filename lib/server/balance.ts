// BACKENDS ≥ 2 (vip mode): how the load generator's connections split over the backends behind
// the VIP, and what /setMemberStatus does to them. The split is counted on the backends
// themselves (established sockets on SIGNALING_PORT in each container's netns), so it is what
// the switch's hash really did, not what it was asked to do.
import { homeServer, loadgenHost } from '../migration/schedule.ts';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../config/keys.ts';
import { sh } from '../hosts/quote.ts';
import type { Host, HostName } from '../hosts/types.ts';
import { netTool, netToolPath } from '../nettool/index.ts';
import { controllerFor } from '../switch/controller-client.ts';
import { sampleValue, scrapeMetrics } from '../../experiments/workload/promtext.ts';
import { backendOn, extraBackends } from './backend.ts';
import type { ServerName } from './net.ts';

export interface BackendCount {
  k: number;
  ip: string;
  server: ServerName;
  container: string;
  established: number | null;
}
export interface Split {
  at: string;
  backends: BackendCount[] /** loadgen_connection_drops_total at that moment */;
  client_drops?: number | null;
}

interface BalanceCtx {
  config: Config;
  dir: string;
  dryRun: boolean;
  host(name: HostName): Host;
  state: { get(key: string): unknown };
  cleanup: { add(label: string, fn: () => Promise<void> | void): () => void };
  log: { step(p: string, m: string): void; warn(m: string): void };
}

/** Established TCP sockets on the service port inside container NAME's netns (one number). */
export const establishedCmd = (name: string, port: number): string =>
  sh`pid=$(podman inspect --format '{{.State.Pid}}' ${name}) && nsenter -t "$pid" -n ss -Htn state established ${`( sport = :${port} )`} | wc -l`;

function backends(ctx: BalanceCtx): Omit<BackendCount, 'established'>[] {
  const c = ctx.config;
  const v = ctx.state.get('serverHost');
  const here: ServerName = typeof v === 'string' && c.SERVERS.includes(v) ? v : homeServer(c);
  return [
    { k: 1, ip: backendOn(c, here).ip, server: here, container: c.SERVER_CONTAINER },
    ...extraBackends(c).map((b) => ({ k: b.k, ip: b.ip, server: b.server, container: b.name })),
  ];
}

export async function connectionSplit(ctx: BalanceCtx, at: string): Promise<Split> {
  const out = await Promise.all(
    backends(ctx).map(async (b) => {
      const r = await ctx
        .host(b.server)
        .exec(establishedCmd(b.container, ctx.config.SIGNALING_PORT), { quiet: true, allowFail: true, dryRunStdout: '0' });
      const n = Number(r.stdout.trim());
      return { ...b, established: r.code === 0 && Number.isInteger(n) ? n : null };
    }),
  );
  return { at, backends: out, client_drops: await clientDrops(ctx) };
}

/** The load generator's drop counter, through the workload's metrics forward (null when unreachable). */
async function clientDrops(ctx: BalanceCtx): Promise<number | null> {
  if (ctx.dryRun) return null;
  try {
    const samples = await scrapeMetrics(`http://127.0.0.1:${ctx.config.SSH_TUNNEL_LOCAL_PORT}/metrics`, 3000);
    return sampleValue(samples, 'loadgen_connection_drops_total') ?? null;
  } catch {
    return null;
  }
}

const dropsBetween = (a: Split, b: Split): string =>
  a.client_drops == null || b.client_drops == null ? '?' : String(b.client_drops - a.client_drops);
const showSplit = (s: Split) => s.backends.map((b) => `${b.ip}: ${b.established ?? '?'}`).join(', ');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface MemberExperiment {
  member: string;
  splits: Split[];
  /** New connections opened while the member was inactive, by backend IP (counted as the split's growth). */
  new_connections: Record<string, number>;
  new_connections_held: number | null;
  finding: string;
}

/**
 * Deactivate the last backend with /setMemberStatus, watch its established connections, open new
 * connections through the VIP, re-activate it, watch again. Writes backends.json into the run folder.
 */
export async function memberExperiment(
  ctx: BalanceCtx,
  opts: { holdConnections?: number; settleMs?: number } = {},
): Promise<MemberExperiment | undefined> {
  const c = ctx.config;
  const say = (m: string) => ctx.log.step('balance', m);
  const all = backends(ctx);
  const member = all[all.length - 1];
  const ctl = controllerFor(ctx);
  const settle = opts.settleMs ?? 3000;
  const n = opts.holdConnections ?? 8;
  const splits: Split[] = [await connectionSplit(ctx, 'all members active')];
  say(`connection split: ${showSplit(splits[0])}`);
  if (ctx.dryRun) {
    await ctl.call('POST', '/setMemberStatus', { ipv4: member.ip, active: false });
    await ctl.call('POST', '/setMemberStatus', { ipv4: member.ip, active: true });
    return undefined;
  }
  await ctl.call('POST', '/setMemberStatus', { ipv4: member.ip, active: false });
  const undo = ctx.cleanup.add(`re-activate selector member ${member.ip}`, async () => {
    await ctl.call('POST', '/setMemberStatus', { ipv4: member.ip, active: true });
  });
  say(`member ${member.ip} (backend ${member.k}) deactivated (/setMemberStatus)`);
  await sleep(settle);
  splits.push(await connectionSplit(ctx, `member ${member.ip} inactive, +${settle} ms`));
  say(`connection split: ${showSplit(splits[1])}`);
  // new connections while it is inactive: held on LOADGEN_HOST, counted on the backends meanwhile
  const lg = ctx.host(loadgenHost(c));
  const hold = lg.exec(netTool(netToolPath(c, lg.name), 'hold', c.VIP, c.SIGNALING_PORT, n, 2500), {
    quiet: true,
    allowFail: true,
    timeoutMs: 20_000,
  });
  await sleep(1200);
  splits.push(await connectionSplit(ctx, `member ${member.ip} inactive, ${n} new connections held`));
  const held = Number(/held (\d+)/.exec((await hold).stdout)?.[1] ?? NaN);
  const grew = Object.fromEntries(
    splits[2].backends.map((b, i) => [b.ip, (b.established ?? 0) - (splits[1].backends[i].established ?? 0)]),
  );
  say(
    `new connections while inactive: ${Object.entries(grew)
      .map(([ip, d]) => `${ip} +${d}`)
      .join(', ')} (held ${Number.isNaN(held) ? '?' : held}/${n})`,
  );
  await ctl.call('POST', '/setMemberStatus', { ipv4: member.ip, active: true });
  undo();
  say(`member ${member.ip} re-activated`);
  await sleep(settle);
  splits.push(await connectionSplit(ctx, `member ${member.ip} active again, +${settle} ms`));
  say(`connection split: ${showSplit(splits[3])}`);
  const before = splits[0].backends.at(-1)!.established;
  const during = splits[1].backends.at(-1)!.established;
  const after = splits[3].backends.at(-1)!.established;
  const finding =
    `the deactivated member held ${before ?? '?'} established connection(s) before, ${during ?? '?'} ${settle} ms after the deactivation ` +
    `and ${after ?? '?'} ${settle} ms after the re-activation (server side: sockets whose client has gone stay until keepalive ends them); ` +
    `the load generator counted ${dropsBetween(splits[0], splits[1])} connection drop(s) after the deactivation and ${dropsBetween(splits[2], splits[3])} ` +
    `after the re-activation (the selector re-hashes over the active members: established flows can land on a backend without their socket); ` +
    `${grew[member.ip] ?? 0} of the ${n} new connections reached the inactive member`;
  const result: MemberExperiment = {
    member: member.ip,
    splits,
    new_connections: grew,
    new_connections_held: Number.isNaN(held) ? null : held,
    finding,
  };
  writeFileSync(join(ctx.dir, 'backends.json'), JSON.stringify(result, null, 2) + '\n');
  say(finding);
  return result;
}
