// The run's server-side infrastructure: podman macvlan network, NIC tuning, the RST drop rule,
// the server container and the load generator's shim. Build creates it, every created piece
// registers its undo, and clean (next run, or experiments/clean.ts) removes what a previous
// run left — only things this project creates, identified by exact name, label or rule spec.
import { serverKey } from '../config/keys/servers.ts';
import type { Config } from '../config/keys.ts';
import { quote, sh } from '../hosts/quote.ts';
import type { HostOutput, OnHost } from '../hosts/shell.ts';
import { criuRunArgs } from '../migration/criu.ts';
import { workloadFor } from '../../experiments/workloads/index.ts';
import { prefixLength, rtoRouteCmd, keepaliveCmd, serverNode, type ServerNode } from './net.ts';

/** Label on every container and network this project creates. */
export const P4CF_LABEL = 'p4cf=1';

/** iptables arguments of the rule that drops outgoing TCP RSTs on the switch NIC (exact spec, for -C/-D). */
export function rstRuleArgs(nic: string): string[] {
  return [
    'OUTPUT',
    '-o',
    nic,
    '-p',
    'tcp',
    '--tcp-flags',
    'RST',
    'RST',
    '-m',
    'comment',
    '--comment',
    'p4cf-rst-drop',
    '-j',
    'DROP',
  ];
}

/**
 * The podman network is named HW_NET on both servers: a checkpoint records the network by
 * name and `podman container restore --import` attaches the same name on the target. On the
 * local testbed both servers share one podman configuration, so the one network serves both
 * (its parent NIC name is looked up in the namespace of the podman call): the NIC names must
 * then be equal.
 */
export function checkSharedNetwork(config: Config): void {
  if (config.TESTBED !== 'local') return;
  const nics = config.SERVERS.map((s) => serverNode(config, s));
  const odd = nics.filter((n) => n.nic !== nics[0].nic);
  if (odd.length) {
    const keys = [nics[0], ...odd].map((n) => `${serverKey(n.name, 'NIC')} (${n.nic})`).join(', ');
    throw new Error(
      `${keys} differ: on the local testbed all servers share one podman network definition, whose macvlan parent must exist under one name on each`,
    );
  }
}

export function networkCreateCmd(config: Config, node: ServerNode): string {
  return sh`podman network exists ${config.HW_NET} || podman network create -d macvlan -o ${`parent=${node.nic}`} -o mode=vepa --subnet ${config.HW_SUBNET} --gateway ${config.HW_GATEWAY} --label ${P4CF_LABEL} ${config.HW_NET}`;
}

/**
 * Offload features turned off on the NIC, per NIC_OFFLOADS. The published scripts turned off
 * checksumming and scatter-gather (tx, rx, sg); p4cf's default turns off the segmentation and
 * receive offloads instead (gro, gso, tso, lro), whose merged/split segments the checkpointed TCP
 * state must not depend on. On hardware the original set is the default, so figures compare.
 */
export const OFFLOAD_SETS = { original: ['tx', 'rx', 'sg'], p4cf: ['gro', 'gso', 'tso', 'lro'], keep: [] } as const;

export function nicOffloadMode(config: Pick<Config, 'NIC_OFFLOADS' | 'TESTBED'>): keyof typeof OFFLOAD_SETS {
  if (config.NIC_OFFLOADS !== 'auto') return config.NIC_OFFLOADS;
  return config.TESTBED === 'hw' ? 'original' : 'p4cf';
}

export function directLinkSetup(config: Pick<Config, 'DIRECT_LINK_SETUP' | 'TESTBED'>): 'up' | 'none' {
  if (config.DIRECT_LINK_SETUP !== 'auto') return config.DIRECT_LINK_SETUP;
  return config.TESTBED === 'hw' ? 'up' : 'none';
}

/**
 * NIC tuning; prints one line per feature ("ok" or "unsupported: …") so unsupported features
 * on veths are reported, not silenced.
 */
export function nicTuneScript(config: Config, node: ServerNode): string {
  const lines = [
    ...OFFLOAD_SETS[nicOffloadMode(config)].map(
      (f) =>
        sh`if out=$(ethtool -K ${node.nic} ${f} off 2>&1); then echo ${`${f} ok`}; else echo "${f} unsupported: $(echo "$out" | tr '\n' ' ')"; fi`,
    ),
    sh`ip link set ${node.nic} mtu ${config.NIC_MTU}`,
    sh`ip link set ${node.nic} promisc on`,
    sh`ip link set ${node.nic} up`,
  ];
  return lines.join('\n');
}

/** The direct link up with its address (DIRECT_LINK_SETUP=up); prints `added` when the address was missing. */
export function directLinkUpScript(node: ServerNode): string {
  const addr = `${node.directIp}/24`;
  return [
    sh`ip link set ${node.directIf} up`,
    sh`if ! ip -o -4 addr show dev ${node.directIf} | grep -qF ${` ${node.directIp}/`}; then ip addr add ${addr} dev ${node.directIf} && echo added; fi`,
  ].join('\n');
}

export const directLinkAddrDelCmd = (node: ServerNode): string => sh`ip addr del ${`${node.directIp}/24`} dev ${node.directIf}`;

export function rstRuleAddCmd(nic: string): string {
  const a = rstRuleArgs(nic);
  return sh`iptables -C ${a} 2>/dev/null || iptables -A ${a}`;
}

/** Deletes every copy of the exact rule (bounded: a rule added twice is removed twice). */
export function rstRuleDelCmd(nic: string): string {
  const a = rstRuleArgs(nic);
  return sh`i=0; while [ $i -lt 10 ] && iptables -C ${a} 2>/dev/null; do iptables -D ${a}; i=$((i+1)); done; echo removed=$i`;
}

/**
 * The server container. UV_USE_IO_URING=0: libuv (Node >= 20.3) may use io_uring, whose rings
 * CRIU cannot dump. The CRIU annotation points every checkpoint/restore at the migration's CRIU
 * settings (lib/migration/criu.ts) instead of relying on the host's /etc/criu/default.conf.
 */
export function serverRunCmd(config: Config, as?: { name: string; ip: string; mac: string }): string {
  const { name, ip, mac } = as ?? { name: config.SERVER_CONTAINER, ip: config.H2_IP, mac: config.H2_MAC };
  return (
    sh`podman run -d --name ${name} --network ${config.HW_NET} --ip ${ip} --mac-address ${mac.toLowerCase()} ` +
    sh`--ulimit nofile=4096:4096 --ulimit nproc=4096:4096 --env UV_USE_IO_URING=0 ${criuRunArgs()} --label ${P4CF_LABEL} ${workloadFor(config).image(config)} ${workloadFor(config).serverArgs(config)}`
  );
}

/** The shim on LOADGEN_HOST: a macvlan (vepa) on the switch NIC, so load reaches the server through the switch. */
export function shimScript(config: Config, nic: string): string {
  const plen = prefixLength(config.HW_SUBNET);
  return [
    'set -e',
    sh`ip link del ${config.MACSHIM_IF} 2>/dev/null || true`,
    sh`ip link add ${config.MACSHIM_IF} link ${nic} type macvlan mode vepa`,
    sh`ip link set ${config.MACSHIM_IF} address ${config.SHIM_MAC.toLowerCase()}`,
    sh`ip link set ${config.MACSHIM_IF} alias p4cf`, // marks it as p4cf's (lib/modes/hw/leftovers.ts)
    sh`ip addr add ${`${config.SHIM_IP}/${plen}`} dev ${config.MACSHIM_IF}`,
    sh`ip link set ${config.MACSHIM_IF} up`,
    sh`ip neigh replace ${config.H2_IP} lladdr ${config.H2_MAC.toLowerCase()} dev ${config.MACSHIM_IF} nud permanent`,
    // vip mode: the load generator talks to the VIP only. Any MAC does: the switch's forward entry
    // of the backend the selector picks rewrites the destination MAC.
    config.MIGRATION_MODE === 'vip'
      ? sh`ip neigh replace ${config.VIP} lladdr ${config.H2_MAC.toLowerCase()} dev ${config.MACSHIM_IF} nud permanent`
      : '',
    rtoRouteCmd(config, config.MACSHIM_IF, config.SHIM_IP),
    keepaliveCmd(),
  ]
    .filter(Boolean)
    .join('\n');
}

/** Removes what build made on one server; prints what it removed. Tolerates absent pieces. */
export function cleanServerScript(config: Config, node: ServerNode, opts: { shim: boolean; checkpointDir: string }): string {
  const lines = [
    sh`if podman container exists ${config.SERVER_CONTAINER}; then podman rm -f -t 1 ${config.SERVER_CONTAINER} >/dev/null && echo ${`removed container ${config.SERVER_CONTAINER}`}; fi`,
    sh`for c in $(podman ps -aq --filter label=${P4CF_LABEL}); do podman rm -f -t 1 "$c" >/dev/null && echo "removed labelled container $c"; done`,
    sh`for n in $(podman network ls -q --filter label=${P4CF_LABEL}); do podman network rm -f "$n" >/dev/null && echo "removed network $n"; done`,
    `r=$(${rstRuleDelCmd(node.nic)}); [ "$r" = removed=0 ] || echo ${quote(`RST drop rule on ${node.nic}:`)} "$r"`,
    sh`if ip link show p4cfmv0 >/dev/null 2>&1; then ip link del p4cfmv0 && echo "removed leftover p4cfmv0"; fi`,
    sh`rm -f ${`${opts.checkpointDir}/checkpoint.tar`} ${`${opts.checkpointDir}/p4cf-calibrate.bin`} ${`${opts.checkpointDir}/p4cf-calibrate.bin.recv`}`,
  ];
  if (opts.shim) {
    lines.push(
      sh`if ip -d link show ${config.MACSHIM_IF} 2>/dev/null | grep -q macvlan; then ip link del ${config.MACSHIM_IF} && echo ${`removed shim ${config.MACSHIM_IF}`}; fi`,
    );
  }
  return lines.join('\n');
}

/** Kill a process recorded by a previous run only when its command line still names the program. */
export function killIfCmdline(pid: number, mustContain: string): string {
  return [
    `p=${pid}`,
    sh`if [ -r /proc/$p/cmdline ] && tr '\\0' ' ' < /proc/$p/cmdline | grep -q -- ${mustContain}; then kill -TERM $p && echo "stopped stale ${mustContain} pid $p"; fi`,
  ].join('\n');
}

/**
 * Run a script whose lines report what they did; logs stdout and stderr lines (these scripts
 * go on after a failed step, e.g. an MTU the NIC refuses, so its message must not be dropped).
 */
export async function runScript(on: OnHost, script: string, what: string, log: (m: string) => void): Promise<HostOutput> {
  const r = await on.script(script);
  for (const l of r.lines().filter((x) => x.trim())) log(`[${on.hostName}] ${what}: ${l}`);
  for (const l of r.stderr.split('\n').filter((x) => x.trim())) log(`[${on.hostName}] ${what} (stderr): ${l}`);
  return r;
}
