// Renders the model's table state as one nftables ruleset: a netdev ingress chain on every
// switch port interface that does what load_balancer.p4 does, so real packets follow the
// tables. Pure: the text is applied by dataplane.ts in one `nft -f -` transaction.
import type { Schema, TableSpec } from './schema.ts';
import { tableBySuffix } from './schema.ts';
import { type Entry, type State, groupMembers, indirectTarget, keyUint } from './tables.ts';

/** Fixed hash seed: nft picks a random one otherwise, and every Write replaces the table, which
 * would move established flows to other members. */
export const HASH_SEED = 0x5eed;

export interface RenderInput {
  schema: Schema;
  state: State;
  /** dev port → switch-side interface name */
  ports: Map<number, string>;
  /** interfaces that exist now; ports and map elements naming others are left out */
  present: Set<string>;
  tableName: string;
}
export interface Rendered { text: string; warnings: string[] }

const ip = (b: Buffer): string => [...b].join('.');
const mac = (b: Buffer): string => [...b].map((x) => x.toString(16).padStart(2, '0')).join(':');

function actionName(t: TableSpec, e: Entry): string {
  return t.actions.find((a) => a.id === e.actionId)?.name.split('.').pop() ?? '';
}
function param(t: TableSpec, e: Entry, name: string): Buffer {
  const spec = t.actions.find((a) => a.id === e.actionId)?.data.find((d) => d.name === name);
  const v = spec && e.data.get(spec.id);
  if (!v || v.kind !== 'stream') throw new Error(`table ${t.name}: entry without parameter ${name}`);
  return v.v;
}
const entriesOf = (state: State, t: TableSpec | undefined): Entry[] => (t ? [...(state.get(t.id)?.values() ?? [])] : []);

function mapBlock(name: string, type: string, elements: string[]): string {
  return `  map ${name} {\n    type ${type};\n${elements.length ? `    elements = { ${elements.join(',\n      ')} }\n` : ''}  }\n`;
}

export function renderRuleset(inp: RenderInput): Rendered {
  const { schema, state, ports, present, tableName } = inp;
  const warnings: string[] = [];
  const T = (s: string) => tableBySuffix(schema, s);
  const portIf = (where: string, port: number): string | undefined => {
    const ifname = ports.get(port);
    if (!ifname) { warnings.push(`${where}: dev port ${port} has no interface (--port ${port}=IFNAME); packets to it are dropped`); return undefined; }
    if (!present.has(ifname)) { warnings.push(`${where}: interface ${ifname} of dev port ${port} does not exist; packets to it are dropped`); return undefined; }
    return ifname;
  };

  const arpFwd: string[] = [];
  const arpT = T('arp_forward');
  for (const e of entriesOf(state, arpT)) {
    const dst = ip(e.key.values().next().value!);
    const ifname = portIf(`arp_forward ${dst}`, param(arpT!, e, 'port').readUIntBE(0, 2));
    if (ifname) arpFwd.push(`${dst} : ${JSON.stringify(ifname)}`);
  }

  const fwdPort: string[] = [];
  const fwdMac: string[] = [];
  const fwdT = T('forward');
  for (const e of entriesOf(state, fwdT)) {
    const dst = ip(e.key.values().next().value!);
    const ifname = portIf(`forward ${dst}`, param(fwdT!, e, 'port').readUIntBE(0, 2));
    if (!ifname) continue;
    fwdPort.push(`${dst} : ${JSON.stringify(ifname)}`);
    if (actionName(fwdT!, e) === 'set_egress_port_with_mac') fwdMac.push(`${dst} : ${mac(param(fwdT!, e, 'dst_mac'))}`);
  }

  const snat: string[] = [];
  const snatT = T('client_snat');
  for (const e of entriesOf(state, snatT)) {
    snat.push(`${keyUint(e.key)} : ${ip(param(snatT!, e, 'new_src'))}`);
  }

  // node_selector: VIP → member or group → active members' new_dst, in group order.
  const apT = T('action_selector_ap');
  const selT = T('action_selector');
  const nsT = T('node_selector');
  const memberDst = new Map<number, string>();
  for (const e of entriesOf(state, apT)) memberDst.set(keyUint(e.key), ip(param(apT!, e, 'new_dst')));
  const groups = new Map<number, Entry>();
  for (const e of entriesOf(state, selT)) groups.set(keyUint(e.key), e);

  const selMaps: string[] = [];
  const selRules: string[] = [];
  entriesOf(state, nsT).forEach((e, i) => {
    const vip = ip(e.key.values().next().value!);
    const target = indirectTarget(nsT!, e);
    if (!target) return;
    if (target.kind === 'member') {
      const dst = memberDst.get(target.id);
      selRules.push(dst ? `ip daddr ${vip} ip daddr set ${dst} goto l3` : `ip daddr ${vip} drop`);
      return;
    }
    const g = groups.get(target.id);
    const active = g ? groupMembers(selT!, g).filter((m) => m.active).map((m) => memberDst.get(m.member)).filter((d): d is string => !!d) : [];
    if (active.length === 0) {
      warnings.push(`node_selector ${vip}: group ${target.id} has no active member; its packets are dropped`);
      selRules.push(`ip daddr ${vip} drop`);
      return;
    }
    const map = `sel_${i}`;
    selMaps.push(mapBlock(map, 'mark : ipv4_addr', active.map((d, k) => `${k} : ${d}`)));
    const h = (fields: string) => `meta mark set jhash ${fields} mod ${active.length} seed ${HASH_SEED}`;
    selRules.push(`ip daddr ${vip} meta l4proto tcp ${h('ip saddr . ip daddr . ip protocol . tcp sport . tcp dport')} ip daddr set meta mark map @${map} goto l3`);
    selRules.push(`ip daddr ${vip} ${h('ip saddr . ip daddr . ip protocol')} ip daddr set meta mark map @${map} goto l3`);
  });

  const portChains: string[] = [];
  for (const [port, ifname] of [...ports].sort((a, b) => a[0] - b[0])) {
    if (!present.has(ifname)) { warnings.push(`dev port ${port}: interface ${ifname} does not exist; no ingress on it`); continue; }
    portChains.push(`  chain port_${port} {\n    type filter hook ingress device ${JSON.stringify(ifname)} priority 0; policy accept;\n    goto pipeline\n  }\n`);
  }

  const text =
    `table netdev ${tableName} {}\n` +
    `delete table netdev ${tableName}\n` +
    `table netdev ${tableName} {\n` +
    `  counter ttl_drops {}\n` +
    `  counter no_route {}\n` +
    mapBlock('arp_fwd', 'ipv4_addr : iface_index', arpFwd) +
    mapBlock('fwd_port', 'ipv4_addr : iface_index', fwdPort) +
    mapBlock('fwd_mac', 'ipv4_addr : ether_addr', fwdMac) +
    mapBlock('client_src', 'inet_service : ipv4_addr', snat) +
    selMaps.join('') +
    `  chain l3 {\n` +
    `    ether daddr set ip daddr map @fwd_mac fwd to ip daddr map @fwd_port\n` +
    `    fwd to ip daddr map @fwd_port\n` +
    `    counter name "no_route" drop\n` +
    `  }\n` +
    `  chain pipeline {\n` +
    `    ether type arp fwd to arp daddr ip map @arp_fwd\n` +
    `    ether type arp drop\n` +
    `    ether type != ip drop\n` +
    `    ip version != 4 drop\n` +
    // P4: TTL below 1 is dropped; the switch does not decrement, so TTL 1 passes.
    `    ip ttl 0 counter name "ttl_drops" drop\n` +
    selRules.map((r) => `    ${r}\n`).join('') +
    `    meta l4proto tcp ip saddr set tcp sport map @client_src\n` +
    `    goto l3\n` +
    `  }\n` +
    portChains.join('') +
    `}\n`;
  return { text, warnings: [...new Set(warnings)] };
}
