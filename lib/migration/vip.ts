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
import { stopGroupScript } from '../hosts/exec.ts';
import { netTool, netToolPath } from '../nettool/index.ts';
import { inNetns, PID_VAR } from '../server/net.ts';
import { backendOn, isVip } from '../server/backend.ts';
import type { Config } from '../config/keys.ts';
import { controllerFor } from '../switch/controller-client.ts';
import { ADDRESS_MEMBERS } from './ckpt-rewrite.ts';
import { maybeMs } from './scripts.ts';
import type { Engine, MigrationRun } from './steps.ts';
import { nowNs } from './timing.ts';

/** The FIFOs of the rewriter started ahead on the target (next to the checkpoint it will edit). */
const rewriterFifos = (r: Pick<MigrationRun, 'dstDir'>) => ({
  go: `${r.dstDir}/.p4cf-rewrite.go`,
  done: `${r.dstDir}/.p4cf-rewrite.done`,
});

/** Rewriters started ahead, by migration: the pid on the target, and the undo that stops it. */
const warmRewriters = new WeakMap<object, { pid: number; release: () => void }>();

/**
 * Target script (prepare step, while the source checkpoints): start the rewriter now, so node's
 * start is out of the downtime; it waits for `go` on a FIFO. Bounded by `timeout`: if the
 * migration ends another way (failure, recovery on the source) it exits on its own.
 */
export function startRewriterScript(r: Pick<MigrationRun, 'c' | 'source' | 'target' | 'dstTar' | 'dstDir'>): string {
  const from = backendOn(r.c, r.source);
  const to = backendOn(r.c, r.target);
  const f = rewriterFifos(r);
  const rewriter = netTool(
    netToolPath(r.c, r.target),
    'ckpt-rewrite-when',
    f.go,
    f.done,
    r.dstTar,
    from.ip,
    to.ip,
    from.mac,
    to.mac,
  );
  return [
    sh`mkdir -p ${r.dstDir} && rm -f ${f.go} ${f.done} && mkfifo ${f.go} ${f.done}`,
    `setsid timeout ${REWRITER_TIMEOUT_S} ${rewriter} >/dev/null 2>&1 </dev/null &`,
    // its start time too, so the undo never signals a reused PID
    `echo "rewriter $! $(awk '{print $22}' /proc/$!/stat 2>/dev/null)"`,
  ].join('\n');
}
/** How long a rewriter started ahead waits for its checkpoint (then the restore rewrites itself). */
const REWRITER_TIMEOUT_S = 300;

/**
 * Target script lines before the restore: give the address members of TAR the new address where
 * they lie in the archive (no unpack and pack of the whole checkpoint, lib/migration/ckpt-tar.ts),
 * by the rewriter started ahead when it runs (`rewriter warm`), else by starting one (`cold`).
 */
export function rewriteTarScript(
  r: Pick<MigrationRun, 'c' | 'source' | 'target' | 'dstTar' | 'dstDir'>,
  warmPid?: number,
): string {
  const from = backendOn(r.c, r.source);
  const to = backendOn(r.c, r.target);
  // a restore on the source (recovery) keeps the checkpoint's own address
  if (from.ip === to.ip) return 'echo "mark ckpt_rewritten $(date +%s%N)"';
  const f = rewriterFifos(r);
  const cold = sh`out=$(node ${netToolPath(r.c, r.target)} ckpt-rewrite ${r.dstTar} ${from.ip} ${to.ip} ${from.mac} ${to.mac} 2>&1)`;
  return [
    ...(warmPid
      ? [
          // the open of the FIFO waits for the rewriter to read it; a dead one is not waited for long
          // (nor a zombie: an orphan's may wait long for PID 1 to reap it)
          sh`if kill -0 ${warmPid} 2>/dev/null && ! grep -qs ${') Z '} /proc/${warmPid}/stat && timeout 5 sh -c 'echo go > "$1"' sh ${f.go}; then`,
          sh`  echo "rewriter warm"; out=$(timeout 60 cat ${f.done})`,
          'else',
          `  echo "rewriter cold"; ${cold}`,
          'fi',
        ]
      : ['echo "rewriter cold"', cold]),
    sh`rm -f ${f.go} ${f.done}`,
    `case "$out" in "rewrite "*) ;; *) echo "ckpt-rewrite-failed (${ADDRESS_MEMBERS.join(' ')})"; echo "$out"; exit 4;; esac`,
    'echo "$out"',
    'echo "mark ckpt_rewritten $(date +%s%N)"',
  ].join('\n');
}

/** `engine` as is in same-ip mode; with the vip-mode restore and switch update otherwise. */
export function withMigrationMode(c: Pick<Config, 'MIGRATION_MODE'>, engine: Engine): Engine {
  if (!isVip(c)) return engine;
  return {
    ...engine,
    name: `${engine.name}+vip`,
    prepareTarget: {
      async run(r) {
        await engine.prepareTarget.run(r);
        const out = await r.dst.exec(startRewriterScript(r), {
          quiet: true,
          dryRunStdout: 'rewriter <rewriter pid> <start-time>',
        });
        const m = /^rewriter (\d+)(?: (\S+))?$/m.exec(out.stdout);
        const pid = Number(m?.[1]);
        if (!(pid > 1)) return;
        // a migration that fails before its restore leaves the rewriter waiting: the run's
        // cleanup stops it; the restore, which hands it the checkpoint or replaces it, releases it
        const release = r.ctx.cleanup.add(`stop the checkpoint rewriter on ${r.target} (pid ${pid})`, async () => {
          await r.dst.exec(sh`sh -c ${stopGroupScript(pid, m?.[2] ?? '')}`, { quiet: true, allowFail: true, timeoutMs: 10_000 });
        });
        warmRewriters.set(r, { pid, release });
      },
    },
    restore: {
      ...engine.restore,
      script: (r) => `${rewriteTarScript(r, warmRewriters.get(r)?.pid)}\n${engine.restore.script(r)}`,
      read(r, o) {
        warmRewriters.get(r)?.release();
        engine.restore.read?.(r, o);
        const ms = maybeMs(o, 'restore_start', 'ckpt_rewritten');
        if (ms !== undefined) r.v.extra.ckpt_rewrite_ms = Math.round(ms * 1000) / 1000;
        r.v.extra.ckpt_rewrite = o.values.rewrite ?? 'n/a';
        if (o.values.rewriter) r.v.extra.ckpt_rewriter = o.values.rewriter;
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
