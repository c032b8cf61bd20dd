// Renders the model's table state as one nftables ruleset: a netdev ingress chain on every
// switch port interface that does what load_balancer.p4 does, so real packets follow the
// tables. Pure: dataplane.ts applies the whole text in one `nft -f -` transaction, or, when only
// map contents changed since the last apply, the element delta from renderDelta.
import type { Schema, TableSpec } from './schema.ts';
import { tableBySuffix } from './schema.ts';
import { type Entry, type State, groupMembers, indirectTarget, keyUint } from './tables.ts';

/** The model's table when --nft-table is not given (experiments/clean.ts removes it after a crash). */
export const MODEL_NFT_TABLE = 'p4cf_lb';

/** Fixed hash seed: nft picks a random one otherwise, and a structural Write replaces the table,
 * which would move established flows to other members. */
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
/** A map's elements: rendered key → rendered value, e.g. `192.168.12.2` → `"p4cf-p140"`. */
export type MapElements = Map<string, string>;
export interface Rendered {
  /** the whole table, replacing any previous one */
  text: string;
  warnings: string[];
  /** `text` with every map left empty: equal skeletons differ only in map contents */
  skeleton: string;
  /** every map of the table with its elements */
  maps: Map<string, MapElements>;
}

const ip = (b: Buffer): string => [...b].join('.');
const mac = (b: Buffer): string => [...b].map((x) => x.toString(16).padStart(2, '0')).join(':');

function actionName(t: TableSpec, e: Entry): string {
  return (
    t.actions
      .find((a) => a.id === e.actionId)
      ?.name.split('.')
      .pop() ?? ''
  );
}
function param(t: TableSpec, e: Entry, name: string): Buffer {
  const spec = t.actions.find((a) => a.id === e.actionId)?.data.find((d) => d.name === name);
  const v = spec && e.data.get(spec.id);
  if (v?.kind !== 'stream') throw new Error(`table ${t.name}: entry without parameter ${name}`);
  return v.v;
}
const entriesOf = (state: State, t: TableSpec | undefined): Entry[] => (t ? [...(state.get(t.id)?.values() ?? [])] : []);

function mapBlock(name: string, type: string, elements: MapElements): string {
  const els = [...elements].map(([k, v]) => `${k} : ${v}`);
  return `  map ${name} {\n    type ${type};\n${els.length ? `    elements = { ${els.join(',\n      ')} }\n` : ''}  }\n`;
}

/**
 * One-line nft batch turning the maps `from` into `to` (same skeleton, so the same map names):
 * changed elements are deleted and added again in the same transaction, so packets see either
 * the old or the new value. '' when nothing changed.
 */
export function renderDelta(tableName: string, from: Map<string, MapElements>, to: Map<string, MapElements>): string {
  const dels: string[] = [];
  const adds: string[] = [];
  for (const [name, next] of to) {
    const prev = from.get(name);
    if (!prev) throw new Error(`renderDelta: map ${name} is new; the table needs a full apply`);
    const gone = [...prev.keys()].filter((k) => next.get(k) !== prev.get(k));
    const come = [...next].filter(([k, v]) => prev.get(k) !== v);
    if (gone.length) dels.push(`delete element netdev ${tableName} ${name} { ${gone.join(', ')} }`);
    if (come.length) adds.push(`add element netdev ${tableName} ${name} { ${come.map(([k, v]) => `${k} : ${v}`).join(', ')} }`);
  }
  for (const name of from.keys())
    if (!to.has(name)) throw new Error(`renderDelta: map ${name} is gone; the table needs a full apply`);
  return [...dels, ...adds].join('; ');
}

export function renderRuleset(inp: RenderInput): Rendered {
  const { schema, state, ports, present, tableName } = inp;
  const warnings: string[] = [];
  const T = (s: string) => tableBySuffix(schema, s);
  const portIf = (where: string, port: number): string | undefined => {
    const ifname = ports.get(port);
    if (!ifname) {
      warnings.push(`${where}: dev port ${port} has no interface (--port ${port}=IFNAME); packets to it are dropped`);
      return undefined;
    }
    if (!present.has(ifname)) {
      warnings.push(`${where}: interface ${ifname} of dev port ${port} does not exist; packets to it are dropped`);
      return undefined;
    }
    return ifname;
  };

  const arpFwd: MapElements = new Map();
  const arpT = T('arp_forward');
  for (const e of entriesOf(state, arpT)) {
    const dst = ip(e.key.values().next().value!);
    const ifname = portIf(`arp_forward ${dst}`, param(arpT!, e, 'port').readUIntBE(0, 2));
    if (ifname) arpFwd.set(dst, JSON.stringify(ifname));
  }

  const fwdPort: MapElements = new Map();
  const fwdMac: MapElements = new Map();
  const fwdT = T('forward');
  for (const e of entriesOf(state, fwdT)) {
    const dst = ip(e.key.values().next().value!);
    const ifname = portIf(`forward ${dst}`, param(fwdT!, e, 'port').readUIntBE(0, 2));
    if (!ifname) continue;
    fwdPort.set(dst, JSON.stringify(ifname));
    if (actionName(fwdT!, e) === 'set_egress_port_with_mac') fwdMac.set(dst, mac(param(fwdT!, e, 'dst_mac')));
  }

  const snat: MapElements = new Map();
  const snatT = T('client_snat');
  for (const e of entriesOf(state, snatT)) {
    snat.set(String(keyUint(e.key)), ip(param(snatT!, e, 'new_src')));
  }

  // node_selector: VIP → member or group → active members' new_dst, in group order.
  const apT = T('action_selector_ap');
  const selT = T('action_selector');
  const nsT = T('node_selector');
  const memberDst = new Map<number, string>();
  for (const e of entriesOf(state, apT)) memberDst.set(keyUint(e.key), ip(param(apT!, e, 'new_dst')));
  const groups = new Map<number, Entry>();
  for (const e of entriesOf(state, selT)) groups.set(keyUint(e.key), e);

  const selMaps: [string, MapElements][] = [];
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
    const active = g
      ? groupMembers(selT!, g)
          .filter((m) => m.active)
          .map((m) => memberDst.get(m.member))
          .filter((d): d is string => !!d)
      : [];
    if (active.length === 0) {
      warnings.push(`node_selector ${vip}: group ${target.id} has no active member; its packets are dropped`);
      selRules.push(`ip daddr ${vip} drop`);
      return;
    }
    const map = `sel_${i}`;
    selMaps.push([map, new Map(active.map((d, k) => [String(k), d]))]);
    const h = (fields: string) => `meta mark set jhash ${fields} mod ${active.length} seed ${HASH_SEED}`;
    selRules.push(
      `ip daddr ${vip} meta l4proto tcp ${h('ip saddr . ip daddr . ip protocol . tcp sport . tcp dport')} ip daddr set meta mark map @${map} goto l3`,
    );
    selRules.push(`ip daddr ${vip} ${h('ip saddr . ip daddr . ip protocol')} ip daddr set meta mark map @${map} goto l3`);
  });

  const portChains: string[] = [];
  for (const [port, ifname] of [...ports].sort((a, b) => a[0] - b[0])) {
    if (!present.has(ifname)) {
      warnings.push(`dev port ${port}: interface ${ifname} does not exist; no ingress on it`);
      continue;
    }
    portChains.push(
      `  chain port_${port} {\n    type filter hook ingress device ${JSON.stringify(ifname)} priority 0; policy accept;\n    goto pipeline\n  }\n`,
    );
  }

  const maps = new Map<string, MapElements>([
    ['arp_fwd', arpFwd],
    ['fwd_port', fwdPort],
    ['fwd_mac', fwdMac],
    ['client_src', snat],
    ...selMaps,
  ]);
  const none: MapElements = new Map();
  const compose = (full: boolean) => {
    const m = (name: string, type: string) => mapBlock(name, type, full ? maps.get(name)! : none);
    return (
      `table netdev ${tableName} {}\n` +
      `delete table netdev ${tableName}\n` +
      `table netdev ${tableName} {\n` +
      `  counter ttl_drops {}\n` +
      `  counter no_route {}\n` +
      m('arp_fwd', 'ipv4_addr : iface_index') +
      m('fwd_port', 'ipv4_addr : iface_index') +
      m('fwd_mac', 'ipv4_addr : ether_addr') +
      m('client_src', 'inet_service : ipv4_addr') +
      selMaps.map(([name]) => m(name, 'mark : ipv4_addr')).join('') +
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
      `}\n`
    );
  };
  return { text: compose(true), skeleton: compose(false), maps, warnings: [...new Set(warnings)] };
}
