// Shell scripts for the server's networking, shared by the build phase and every migration:
// the same steps set up the container on its first server at the start and re-create them on the
// target after each restore. Pure builders (one script per step, run through one SSH exec so a
// step costs one round trip), so the logic is testable without a testbed.
import type { Config, ServerValues } from '../config/keys.ts';
import { type ServerField, serverKey } from '../config/keys/servers.ts';
import type { ServerName } from '../hosts/types.ts';
import { quote, raw, sh, type RawShell } from '../hosts/quote.ts';
import { backendOn } from './backend.ts';

/** A PID known now, or a shell expression evaluated on the host (e.g. "$pid" inside a script). */
export type PidRef = number | RawShell;
/** The shell variable $pid of a script. */
export const PID_VAR: RawShell = raw('"$pid"');

export type { ServerName } from '../hosts/types.ts';

export interface ServerNode {
  name: ServerName;
  nic: string;
  swPort: number;
  directIp: string;
  directIf: string;
}

/** A server's keys (<NAME>_NIC, <NAME>_SW_PORT, …) as one record; `name` must be one of SERVERS. */
export function serverNode(config: Pick<Config, 'SERVERS'> & ServerValues, name: ServerName): ServerNode {
  if (!config.SERVERS.includes(name))
    throw new Error(`unknown server ${JSON.stringify(name)}: expected one of SERVERS (${config.SERVERS.join(', ')})`);
  const k = <F extends ServerField>(f: F) => serverKey(name, f);
  return {
    name,
    nic: config[k('NIC') as `${string}_NIC`],
    swPort: config[k('SW_PORT') as `${string}_SW_PORT`],
    directIp: config[k('DIRECT_IP') as `${string}_DIRECT_IP`],
    directIf: config[k('DIRECT_IF') as `${string}_DIRECT_IF`],
  };
}

export function prefixLength(cidr: string): number {
  const m = cidr.match(/\/(\d{1,2})$/);
  if (!m || Number(m[1]) > 32) throw new Error(`not an IPv4 CIDR: ${JSON.stringify(cidr)} (expected e.g. 192.168.12.0/24)`);
  return Number(m[1]);
}

/** `podman inspect` of the container's PID; its network namespace is reached with nsenter -t PID -n. */
export const containerPidCmd = (name: string): string => sh`podman inspect --format '{{.State.Pid}}' ${name}`;

export function parsePid(stdout: string, what: string): number {
  const pid = Number(stdout.trim());
  if (!Number.isInteger(pid) || pid <= 1)
    throw new Error(`${what}: expected a PID, got ${JSON.stringify(stdout.trim())} (container not running?)`);
  return pid;
}

/** `ip route` arguments that set rto_min on the subnet route; empty when RTO_MIN_MS is 0 (kernel default). */
export function rtoRouteCmd(config: Config, dev: string, src: string): string {
  if (!config.RTO_MIN_MS) return '';
  // replace (not change) so it works whether or not the kernel route has other attributes;
  // same prefix, metric and table as the kernel's own route, so it takes its place.
  return sh`ip route replace ${config.HW_SUBNET} dev ${dev} proto kernel scope link src ${src} rto_min ${`${config.RTO_MIN_MS}ms`}`;
}

const KEEPALIVE = ['net.ipv4.tcp_keepalive_time=1', 'net.ipv4.tcp_keepalive_intvl=1', 'net.ipv4.tcp_keepalive_probes=3'];
/** Keepalive sysctls (per network namespace): dead peers are noticed within seconds. */
export const keepaliveCmd = (): string => `sysctl -q -w ${KEEPALIVE.join(' ')}`;

/** Run a script inside the network namespace of PID (the host's mount namespace stays, so ip/sysctl work). */
export const inNetns = (pid: PidRef, script: string): string => sh`nsenter -t ${pid} -n sh -ec ${script}`;

/** Line the network script prints when it skipped the gratuitous ARP (the migration warns once). */
export const ARPING_MISSING = 'garp-skipped: arping is not installed on this host (package iputils-arping)';

/**
 * eth0's MAC as the netns sees it. From netlink (`ip -o link`), never /sys: under `nsenter -n`
 * /sys still shows the root namespace's devices, so /sys/class/net/eth0 is the machine's own NIC.
 * Prints nothing when the netns has no eth0.
 */
const ETH0_MAC = "ip -o link show dev eth0 2>/dev/null | sed -n 's/.* link\\/ether \\([0-9a-f:]*\\) .*/\\1/p'";

/**
 * Network of the server container after `podman run` or a restore, inside its netns.
 * When podman already gave eth0 the fixed MAC on the right parent (netavark re-creates the
 * macvlan on the host that restores), eth0 is kept; otherwise it is re-created as the original
 * did: delete the stale eth0, make a macvlan with the fixed MAC on the target NIC in the host's
 * netns, move it into the container, address it. Then rto_min, route cache flush, static ARP
 * for the shim, keepalives, and a gratuitous ARP when arping exists.
 */
export function containerNetScript(
  config: Config,
  node: ServerNode,
  pid: PidRef,
  opts: { forceRecreate?: boolean; backend?: { ip: string; mac: string } } = {},
): string {
  const tmp = 'p4cfmv0';
  // the container's address on this server (H2 everywhere in same-ip mode; H3 on loveland in vip
  // mode; an extra backend's own when given)
  const { ip, mac } = opts.backend ?? backendOn(config, node.name);
  const plen = prefixLength(config.HW_SUBNET);
  const ns = (s: string) => inNetns(pid, s);
  const recreate = [
    ns(`ip link del eth0 2>/dev/null || true`),
    sh`ip link del ${tmp} 2>/dev/null || true`,
    sh`ip link add ${tmp} link ${node.nic} type macvlan mode vepa`,
    sh`ip link set ${tmp} address ${mac}`,
    sh`ip link set ${tmp} netns ${pid}`,
    ns(
      [
        sh`ip link set ${tmp} name eth0`,
        'sysctl -q -w net.ipv4.conf.eth0.arp_notify=1',
        sh`ip addr add ${`${ip}/${plen}`} dev eth0`,
        'ip link set eth0 up',
        sh`ip route replace default via ${config.HW_GATEWAY} dev eth0`,
      ].join('\n'),
    ),
  ].join('\n');
  const check = ns(ETH0_MAC);
  const lines = [
    'set -e',
    opts.forceRecreate
      ? `echo "re-creating eth0 on ${node.nic}"\n${recreate}`
      : `cur=$(${check})\nif [ "$cur" != ${quote(mac)} ]; then echo "eth0 has MAC '$cur', re-creating it on ${node.nic} with ${mac}"\n${recreate}\nfi`,
    ns(
      [
        rtoRouteCmd(config, 'eth0', ip),
        'ip route flush cache',
        sh`ip neigh replace ${config.SHIM_IP} lladdr ${config.SHIM_MAC} dev eth0 nud permanent`,
        keepaliveCmd(),
      ]
        .filter(Boolean)
        .join('\n'),
    ),
    // arping is optional: the switch forwards ARP by target IP and both ends use static entries,
    // so a gratuitous ARP only refreshes third parties' caches. Its absence is reported, not hidden.
    // Detached: arping waits its 1 s interval after the one packet, which must not hold the resume.
    `if command -v arping >/dev/null 2>&1; then ${ns(sh`arping -U -c 1 -I eth0 ${ip} || arping -A -c 1 -I eth0 ${ip} || true`)} </dev/null >/dev/null 2>&1 & else echo ${quote(ARPING_MISSING)}; fi`,
  ];
  return lines.join('\n');
}

/**
 * Script (run on a server's host netns) that waits until the TCP send queues of PID's network
 * namespace are empty; prints `drained polls=N`, `timeout sendq=BYTES` or `unreadable …`.
 * It reads /proc/PID/net/tcp{,6} (tx_queue column) with one awk: no nsenter, no ss, and no loop or
 * sleep when the first read is already empty (the common case). A namespace it cannot read is
 * reported as unreadable, never as drained.
 */
export function drainScript(pid: PidRef, timeoutMs: number): string {
  const polls = Math.max(1, Math.ceil(timeoutMs / 100));
  const dir = `/proc/${quote(pid)}/net`;
  // st 0A = LISTEN (its tx_queue is the accept backlog, not data); field 5 is tx_queue:rx_queue in
  // hex, summed by hand (mawk has no strtonum)
  const awk =
    `FNR>1 && $4!="0A" { h=tolower(substr($5,1,index($5,":")-1)); v=0; ` +
    `for (k=1; k<=length(h); k++) v = v*16 + index("0123456789abcdef", substr(h,k,1)) - 1; s+=v } END { print s+0 }`;
  const read = `q=$(awk ${quote(awk)} $f) || q=unreadable`;
  return [
    `f=${dir}/tcp; [ -r ${dir}/tcp6 ] && f="$f ${dir}/tcp6"`,
    `if [ ! -r ${dir}/tcp ]; then echo "unreadable ${dir}/tcp"; else`,
    `i=0; ${read}`,
    `while [ "$q" != 0 ] && [ $i -lt ${polls} ]; do sleep 0.1; i=$((i+1)); ${read}; done`,
    `if [ "$q" = 0 ]; then echo "drained polls=$i"; else echo "timeout sendq=$q"; fi`,
    'fi',
  ].join('\n');
}
