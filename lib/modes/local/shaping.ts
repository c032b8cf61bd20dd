// Link emulation on the local testbed, in the spirit of mininet's TCLink: every setting is applied
// on both ends of a veth, so both directions see the link. LINK_* shape the switch-port links
// (server ↔ switch), DIRECT_LINK_* the direct link that carries the checkpoint. Real links cannot be
// shaped this way: on hardware the keys are refused by the config loader.
//   rate          tbf as the root qdisc of each end's egress
//   delay/jitter  netem under the tbf (or as the root); needs sch_netem in the kernel
//   loss          an nftables netdev ingress chain per end dropping at random (works on any kernel
//                 with nftables, which the switch model needs anyway)
import { quote } from '../../hosts/quote.ts';
import type { Config, ServerValues } from '../../config/keys.ts';
import { rateBitsPerS } from '../../config/keys/types.ts';
import { serverNode } from '../../server/net.ts';
import { hostNamespace } from './testbed.ts';

export interface LinkShape {
  rate: string;
  delay: string;
  jitter: string;
  loss: string;
}
export interface ShapedEnd {
  label: string;
  ns: string;
  ifname: string;
  shape: LinkShape;
}

export type LinkConfig = Pick<
  Config,
  | 'TESTBED_PREFIX'
  | 'SERVERS'
  | 'LINK_RATE'
  | 'LINK_DELAY'
  | 'LINK_JITTER'
  | 'LINK_LOSS'
  | 'DIRECT_LINK_RATE'
  | 'DIRECT_LINK_DELAY'
> &
  ServerValues;

const isSet = (s: LinkShape) => Boolean(s.rate || s.delay || s.jitter || s.loss);

/** Every veth end to shape, with its shape (ends without one are left out). */
export function shapedEnds(c: LinkConfig): ShapedEnd[] {
  return linkEnds(c).filter((e) => isSet(e.shape));
}

/** Every veth end that link emulation may shape, shaped or not (to clear what a killed run left). */
export function linkEnds(c: LinkConfig): ShapedEnd[] {
  const sw: LinkShape = { rate: c.LINK_RATE, delay: c.LINK_DELAY, jitter: c.LINK_JITTER, loss: c.LINK_LOSS };
  const direct: LinkShape = { rate: c.DIRECT_LINK_RATE, delay: c.DIRECT_LINK_DELAY, jitter: '', loss: '' };
  const ns = (h: string) => hostNamespace(c, h);
  const out: ShapedEnd[] = [];
  for (const host of c.SERVERS) {
    const { swPort: port, nic } = serverNode(c, host);
    out.push({ label: `switch port ${port} (switch side)`, ns: ns('tofino'), ifname: `${c.TESTBED_PREFIX}p${port}`, shape: sw });
    out.push({
      label: `switch port ${port} (${host} side)`,
      ns: ns(host),
      ifname: nic,
      shape: sw,
    });
  }
  // the direct link's (or direct network's) server ends: what a checkpoint leaves through
  for (const host of c.SERVERS)
    out.push({
      label: `direct link (${host} side)`,
      ns: ns(host),
      ifname: serverNode(c, host).directIf,
      shape: direct,
    });
  return out;
}

const TIME_UNITS: Record<string, number> = { us: 1e-6, ms: 1e-3, s: 1 };

const seconds = (t: string): number => {
  const m = /^(\d+(?:\.\d+)?)(us|ms|s)$/.exec(t);
  return m ? Number(m[1]) * TIME_UNITS[m[2]] : 0;
};

/** tbf's bucket: it must hold a full GSO packet (64 KiB on a veth) and 4 ms of the rate. A transfer's
 * first `burst` bytes pass unshaped (the bucket starts full). */
export const tbfBurstBytes = (rate: string): number => Math.max(2 * 65536, Math.ceil((rateBitsPerS(rate) / 8) * 0.004));

export function tbfArgs(s: LinkShape): string[] {
  const burst = tbfBurstBytes(s.rate);
  // queue for the bandwidth-delay product plus 100 ms, so the shaper never tail-drops a migration's flows
  const latencyMs = Math.ceil(100 + 2 * seconds(s.delay) * 1000);
  return ['rate', s.rate, 'burst', String(burst), 'latency', `${latencyMs}ms`];
}

export function netemArgs(s: LinkShape): string[] {
  return s.delay ? ['delay', s.delay, ...(s.jitter ? [s.jitter] : [])] : [];
}

/** Loss as the nftables numgen threshold out of 1 000 000 ("0.1%" → 1000). */
export const lossThreshold = (loss: string): number => Math.round(Number(loss.replace('%', '')) * 10_000);

const inNs = (ns: string, cmd: string) => `nsenter --net=${quote(`/run/netns/${ns}`)} ${cmd}`;
const lossTable = (e: ShapedEnd) => `p4cf_loss_${e.ifname.replace(/[^A-Za-z0-9_]/g, '_')}`;

/** The commands that shape one end (run on this machine, as root). */
export function applyCmds(e: ShapedEnd): string[] {
  const dev = quote(e.ifname);
  const s = e.shape;
  const out: string[] = [];
  if (s.rate) out.push(inNs(e.ns, `tc qdisc replace dev ${dev} root handle 1: tbf ${tbfArgs(s).join(' ')}`));
  if (s.delay)
    out.push(
      inNs(
        e.ns,
        `tc qdisc replace dev ${dev} ${s.rate ? 'parent 1:1 handle 10:' : 'root'} netem ${netemArgs(s).map(quote).join(' ')}`,
      ),
    );
  if (s.loss) {
    const t = lossTable(e);
    const n = lossThreshold(s.loss);
    const rule = n >= 1_000_000 ? 'drop' : `numgen random mod 1000000 < ${n} drop`; // numgen's range ends at 999999
    out.push(
      inNs(
        e.ns,
        `nft -f - <<'EOF'\ntable netdev ${t} {\n  chain in {\n    type filter hook ingress device ${quote(e.ifname)} priority -500;\n    ${rule}\n  }\n}\nEOF`,
      ),
    );
  }
  return out;
}

/** Removes what applyCmds made on this end (a tbf/netem root qdisc, the loss table); absent is fine. */
export function removeCmd(e: ShapedEnd): string {
  const dev = quote(e.ifname);
  return inNs(
    e.ns,
    `sh -c ${quote(
      `if tc qdisc show dev ${dev} root | grep -Eq '^qdisc (tbf|netem) '; then tc qdisc del dev ${dev} root; fi; ` +
        `if nft list table netdev ${lossTable(e)} >/dev/null 2>&1; then nft delete table netdev ${lossTable(e)}; fi`,
    )}`,
  );
}

export const showCmd = (e: ShapedEnd): string =>
  inNs(e.ns, `sh -c ${quote(`tc qdisc show dev ${quote(e.ifname)}; nft list table netdev ${lossTable(e)} 2>/dev/null || true`)}`);

/** Whether this kernel can add delay (sch_netem); probed on a throwaway dummy-free path: `tc qdisc add dev lo` in a namespace. */
export const NETEM_PROBE = `sh -c ${quote('ip netns add p4cf-netem-probe && ip -n p4cf-netem-probe link set lo up && nsenter --net=/run/netns/p4cf-netem-probe tc qdisc add dev lo root netem delay 1ms; r=$?; ip netns del p4cf-netem-probe; exit $r')}`;

/** One line per shaped end for the log and the manifest. */
export function describeEnd(e: ShapedEnd): string {
  const s = e.shape;
  const parts = [
    s.rate && `rate ${s.rate} (tbf)`,
    s.delay && `delay ${s.delay}${s.jitter ? ` ± ${s.jitter}` : ''} (netem)`,
    s.loss && `loss ${s.loss} (nftables)`,
  ].filter(Boolean);
  return `${e.label} ${e.ns}/${e.ifname}: ${parts.join(', ')}`;
}
