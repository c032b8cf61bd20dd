// The vip-mode migration (MIGRATION_MODE=vip): the container changes its address with its server
// (backend H2 on lakewood, H3 on loveland, lib/server/backend.ts) while clients keep talking to
// the VIP. An overlay on any engine, replacing only what differs from same-ip mode:
//   - restore: before `podman container restore --import`, the checkpoint's TCP sockets get the
//     new source address and podman's config.dump/network.status the new static IP and MAC
//     (p4cf-net ckpt-rewrite, lib/migration/ckpt-rewrite.ts), so the restored sockets match eth0;
//   - network fix-up: unchanged code; containerNetScript gives eth0 the target's backend address;
//   - switch update: POST /migrateNode re-targets the selector member from the old backend to the
//     new one. The forward/arp_forward entries of H2 (lakewood's port) and H3 (loveland's) are
//     configured nodes that stay where their server is, so nothing else changes on the switch;
//     client_snat keeps giving the replies the VIP as source.
import { loadgenHost } from './schedule.ts';
import { sh } from '../hosts/quote.ts';
import { netToolPath } from '../nettool/index.ts';
import { inNetns, PID_VAR } from '../server/net.ts';
import { backendOn, isVip } from '../server/backend.ts';
import type { Config } from '../config/keys.ts';
import { controllerFor } from '../switch/controller-client.ts';
import { maybeMs } from './scripts.ts';
import type { Engine, MigrationRun } from './steps.ts';
import { nowNs } from './timing.ts';

/** The members of podman's exported checkpoint that carry the container's address. */
export const ADDRESS_MEMBERS = ['config.dump', 'network.status', 'checkpoint/files.img'] as const;

/** Target script lines: rewrite the address members of TAR in place (extract, edit, replace). */
export function rewriteTarScript(r: Pick<MigrationRun, 'c' | 'source' | 'target' | 'dstTar'>): string {
  const from = backendOn(r.c, r.source);
  const to = backendOn(r.c, r.target);
  const members = ADDRESS_MEMBERS.join(' ');
  // a restore on the source (recovery) keeps the checkpoint's own address
  if (from.ip === to.ip) return 'echo "mark ckpt_rewritten $(date +%s%N)"';
  return [
    'd=$(mktemp -d)',
    // the whole archive is unpacked and packed again: GNU tar's --delete cannot walk the archive
    // podman (Go's archive/tar) writes ("Skipping to next header")
    sh`if ! out=$(tar -xpf ${r.dstTar} -C "$d" 2>&1 && node ${netToolPath(r.c, r.target)} ckpt-rewrite "$d" ${from.ip} ${to.ip} ${from.mac} ${to.mac} 2>&1 ` +
      sh`&& (cd "$d" && tar --numeric-owner -cf ${r.dstTar} $(ls -A)) 2>&1); then`,
    `  rm -rf "$d"; echo "ckpt-rewrite-failed (${members})"; echo "$out"; exit 4`,
    'fi',
    'echo "$out" | grep "^rewrite "',
    'rm -rf "$d"',
    'echo "mark ckpt_rewritten $(date +%s%N)"',
  ].join('\n');
}

/** `engine` as is in same-ip mode; with the vip-mode restore and switch update otherwise. */
export function withMigrationMode(c: Pick<Config, 'MIGRATION_MODE'>, engine: Engine): Engine {
  if (!isVip(c)) return engine;
  return {
    ...engine,
    name: `${engine.name}+vip`,
    restore: {
      ...engine.restore,
      script: (r) => `${rewriteTarScript(r)}\n${engine.restore.script(r)}`,
      read(r, o) {
        engine.restore.read?.(r, o);
        const ms = maybeMs(o, 'restore_start', 'ckpt_rewritten');
        if (ms !== undefined) r.v.extra.ckpt_rewrite_ms = Math.round(ms * 1000) / 1000;
        r.v.extra.ckpt_rewrite = o.values.rewrite ?? 'n/a';
      },
    },
    networkFixup: {
      ...engine.networkFixup,
      // what the restored container's eth0 really holds, for the timing files
      script: (r) => `${engine.networkFixup.script(r)}\n${inNetns(PID_VAR, ETH0_ADDR)}`,
      read(r, o) {
        engine.networkFixup.read?.(r, o);
        r.v.extra.container_ip_after = o.values.eth0addr ?? 'n/a';
      },
    },
    postSwitch: {
      async run(r) {
        await engine.postSwitch.run(r);
        // what the clients' sockets on lakewood are connected to, after the switch: the VIP only
        const ss = await r.ctx.host(loadgenHost(r.c)).exec(clientPeersCmd(r.c), { quiet: true, allowFail: true });
        r.v.extra.client_peers = summarizePeers(ss.stdout) || 'none';
      },
    },
    switchUpdate: {
      async run(r) {
        const from = backendOn(r.c, r.source);
        const to = backendOn(r.c, r.target);
        const sw = await controllerFor(r.ctx).call('POST', '/migrateNode', { old_ipv4: from.ip, new_ipv4: to.ip });
        r.v.switchMs = sw.ms;
        r.say(
          `selector member ${from.ip} → ${to.ip} (/migrateNode, ${sw.ms.toFixed(1)} ms); time to ready ${(Number(nowNs() - r.m.start!) / 1e6).toFixed(0)} ms`,
        );
      },
    },
  };
}

/** What the timing files record about the addresses (both modes). */
export function addressRecord(r: Pick<MigrationRun, 'c' | 'source' | 'target'>): Record<string, string> {
  return {
    migration_mode: r.c.MIGRATION_MODE,
    service_ip: isVip(r.c) ? r.c.VIP : r.c.H2_IP,
    backend_ip_before: backendOn(r.c, r.source).ip,
    backend_ip_after: backendOn(r.c, r.target).ip,
    backend_mac_before: backendOn(r.c, r.source).mac,
    backend_mac_after: backendOn(r.c, r.target).mac,
  };
}

// `eth0addr 192.168.12.3/24` (printed inside the container's netns)
const ETH0_ADDR = `echo "eth0addr $(ip -4 -o addr show dev eth0 | awk '{print $4}' | tr '\\n' ' ')"`;

/** Established TCP sockets on LOADGEN_HOST whose peer port is the service port: `ss` lines `LOCAL PEER`. */
export const clientPeersCmd = (c: Pick<Config, 'SIGNALING_PORT'>): string =>
  `ss -Htn state established '( dport = :${c.SIGNALING_PORT} )' | awk '{print $4}'`;

/** `192.168.12.10:8080 x4` from the peer column of clientPeersCmd's output (distinct peers, counted). */
export function summarizePeers(stdout: string): string {
  const n = new Map<string, number>();
  for (const p of stdout
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean))
    n.set(p, (n.get(p) ?? 0) + 1);
  return [...n].map(([p, k]) => `${p} x${k}`).join(', ');
}
