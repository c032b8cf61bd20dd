// bf-rt.json must describe load_balancer.p4: the test parses the P4 source (tables, keys,
// actions, parameters, the selector) and compares with both generated schemas.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { P4_DEFAULTS } from '../p4/model/defaults.ts';
import { PORT_FIELDS } from '../p4/model/port-fields.ts';

const P4 = join(import.meta.dirname, '..', 'p4');
const src = readFileSync(join(P4, 'load_balancer.p4'), 'utf8');
const headers = readFileSync(join(P4, 'common', 'headers.p4'), 'utf8');
const strip = (s: string) => s.replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '');
const code = strip(src);
const hdrCode = strip(headers);

// ---- a small parser for the P4 constructs this program uses -------------------------------
const typedefs = new Map<string, number>([['PortId_t', 9]]);
for (const m of hdrCode.matchAll(/typedef\s+bit<(\d+)>\s+(\w+)\s*;/g)) typedefs.set(m[2], Number(m[1]));
const widthOf = (type: string): number => {
  const m = /^bit<(\d+)>$/.exec(type);
  if (m) return Number(m[1]);
  const w = typedefs.get(type);
  if (w === undefined) throw new Error(`unknown P4 type ${type}`);
  return w;
};
const headerFields = new Map<string, Map<string, number>>();
for (const m of hdrCode.matchAll(/header\s+(\w+)\s*\{([^}]*)\}/g)) {
  headerFields.set(m[1], new Map([...m[2].matchAll(/([\w<>]+)\s+(\w+)\s*;/g)].map((f) => [f[2], widthOf(f[1])])));
}
const hdrStruct = /struct\s+header_t\s*\{([^}]*)\}/.exec(hdrCode)![1];
const hdrTypes = new Map([...hdrStruct.matchAll(/(\w+)\s+(\w+)\s*;/g)].map((f) => [f[2], f[1]]));
const fieldWidth = (path: string): number => {
  const [, h, f] = path.split('.');
  const w = headerFields.get(hdrTypes.get(h)!)?.get(f);
  if (w === undefined) throw new Error(`cannot resolve ${path}`);
  return w;
};

interface P4Action {
  name: string;
  params: { name: string; width: number }[];
}
const actions = new Map<string, P4Action>();
for (const m of code.matchAll(/action\s+(\w+)\s*\(([^)]*)\)/g)) {
  const params = m[2].trim()
    ? m[2].split(',').map((p) => {
        const [type, name] = p.trim().split(/\s+/);
        return { name, width: widthOf(type) };
      })
    : [];
  actions.set(m[1], { name: m[1], params });
}
actions.set('NoAction', { name: 'NoAction', params: [] }); // core.p4

interface P4Table {
  name: string;
  keys: { field: string; kind: string }[];
  actions: { name: string; defaultOnly: boolean }[];
  size: number;
  implementation?: string;
  defaultAction?: { name: string; isConst: boolean };
}
const tables: P4Table[] = [];
for (const m of code.matchAll(/table\s+(\w+)\s*\{([\s\S]*?)\n\s{4}\}/g)) {
  const body = m[2];
  const keyBlock = /key\s*=\s*\{([^}]*)\}/.exec(body)?.[1] ?? '';
  const actBlock = /actions\s*=\s*\{([^}]*)\}/.exec(body)![1];
  tables.push({
    name: m[1],
    keys: [...keyBlock.matchAll(/([\w.]+)\s*:\s*(\w+)\s*;/g)].map((k) => ({ field: k[1], kind: k[2] })),
    actions: actBlock
      .split(';')
      .map((a) => a.trim())
      .filter(Boolean)
      .map((a) => ({ name: a.replace('@defaultonly', '').trim(), defaultOnly: a.includes('@defaultonly') })),
    size: Number(/size\s*=\s*(\d+)/.exec(body)![1]),
    implementation: /implementation\s*=\s*(\w+)/.exec(body)?.[1],
    defaultAction: ((d) => (d ? { name: d[2], isConst: !!d[1] } : undefined))(
      /(const\s+)?default_action\s*=\s*(\w+)\s*\(/.exec(body),
    ),
  });
}
const profile = /ActionProfile\((\d+)\)\s+(\w+)\s*;/.exec(code)!;
const selector = /ActionSelector\((\w+),\s*(\w+),\s*SelectorMode_t\.(\w+),\s*(\d+),\s*(\d+)\)\s+(\w+)\s*;/.exec(code)!;
const hash = /Hash<bit<(\d+)>>\(HashAlgorithm_t\.(\w+)\)\s+(\w+)\s*;/.exec(code)!;

const matchType = (kind: string) =>
  (({ exact: 'Exact', ternary: 'Ternary', lpm: 'LPM', range: 'Range', optional: 'Optional' }) as Record<string, string>)[kind];
const actionName = (a: string) => (a === 'NoAction' ? 'NoAction' : `SwitchIngress.${a}`);

describe('load_balancer.p4 (parsed)', () => {
  it('declares the program of the technical report', () => {
    expect(tables.map((t) => t.name).sort()).toEqual(['arp_forward', 'client_snat', 'forward', 'node_selector']);
    expect(src).toMatch(
      /#if __TARGET_TOFINO__ == 3\s+#include <t3na\.p4>\s+#elif __TARGET_TOFINO__ == 2\s+#include <t2na\.p4>\s+#else\s+#include <tna\.p4>/,
    );
    expect([hash[1], hash[2]]).toEqual(['16', 'CRC16']);
    expect([profile[1], profile[2]]).toEqual(['4', 'action_selector_ap']);
    expect(selector.slice(1)).toEqual(['action_selector_ap', hash[3], 'FAIR', '4', '1', 'action_selector']);
    const ns = tables.find((t) => t.name === 'node_selector')!;
    expect(ns.implementation).toBe('action_selector');
    expect(
      ns.keys
        .filter((k) => k.kind === 'selector')
        .map((k) => k.field)
        .sort(),
    ).toEqual(['hdr.ipv4.dst_addr', 'hdr.ipv4.protocol', 'hdr.ipv4.src_addr', 'hdr.tcp.dst_port', 'hdr.tcp.src_port']);
    expect(
      /struct\s+metadata_t\s*\{([^}]*)\}/
        .exec(hdrCode)![1]
        .match(/\w+\s*;/g)!
        .map((f) => f.replace(/\s*;/, '')),
    ).toEqual(['is_lb_packet', 'checksum_err_ipv4_igprs', 'checksum_tcp_tmp', 'checksum_upd_ipv4', 'checksum_upd_tcp']);
    expect(code).toMatch(/subtract_all_and_deposit\(meta\.checksum_tcp_tmp\)/);
    expect(code).toMatch(/tofino_parser\.apply\(pkt, ig_intr_md\)/);
    expect(code).toMatch(/0x0000deadbeef/);
  });

  it('applies the tables in the order of the report', () => {
    const apply = code.slice(code.indexOf('apply {', code.indexOf('table arp_forward')));
    // Last bypass_egress is the one at the end of the IPv4 path; \b keeps forward apart from arp_forward.
    const at = (s: string) =>
      s === 'bypass_egress();' ? apply.lastIndexOf(s) : apply.search(new RegExp(`(^|[^\\w])${s.replace(/[.()]/g, '\\$&')}`));
    const order = [
      'arp_forward.apply()',
      'return;',
      'ttl < 1',
      'node_selector.apply()',
      'client_snat.apply()',
      'forward.apply()',
      'bypass_egress();',
    ];
    const positions = order.map(at);
    expect(
      positions.every((p) => p >= 0),
      order.filter((_, i) => positions[i] < 0).join(),
    ).toBe(true);
    expect([...positions].sort((a, b) => a - b)).toEqual(positions);
    expect(apply).toMatch(/if \(!meta\.is_lb_packet\)\s*\{\s*client_snat\.apply\(\);/);
  });
});

for (const program of ['tna_load_balancer', 't2na_load_balancer']) {
  describe(`${program}.bf-rt.json matches load_balancer.p4`, () => {
    const doc = JSON.parse(readFileSync(join(P4, `${program}.bf-rt.json`), 'utf8'));
    const byName = new Map<string, any>(doc.tables.map((t: any) => [t.name, t]));
    const get = (n: string) => {
      const t = byName.get(`pipe.SwitchIngress.${n}`);
      expect(t, `table ${n}`).toBeDefined();
      return t;
    };

    it('has exactly the P4 tables plus the action profile, selector and the tables bf-p4c adds, with unique ids', () => {
      expect(doc.schema_version).toBe('1.0.0');
      // bf-p4c adds <selector>_get_member (SelectorGetMember) and <parser>.$PORT_METADATA (tna_action_selector/bf-rt.json).
      expect([...byName.keys()].sort()).toEqual(
        [
          ...[...tables.map((t) => t.name), profile[2], selector[6], `${selector[6]}_get_member`].map(
            (n) => `pipe.SwitchIngress.${n}`,
          ),
          'pipe.SwitchIngressParser.$PORT_METADATA',
        ].sort(),
      );
      const ids = doc.tables.flatMap((t: any) => [t.id, ...(t.action_specs ?? []).map((a: any) => a.id)]);
      expect(new Set(ids).size).toBe(
        new Set(doc.tables.map((t: any) => t.id)).size +
          new Set(doc.tables.flatMap((t: any) => (t.action_specs ?? []).map((a: any) => a.name))).size,
      );
    });

    for (const t of tables) {
      it(`table ${t.name}: type, keys, actions, parameters, size and default action`, () => {
        const j = get(t.name);
        expect(j.size).toBe(t.size);
        const matchKeys = t.keys.filter((k) => k.kind !== 'selector');
        // bf-p4c: P4 match keys are mandatory: false, numbered from 1.
        expect(j.key.map((k: any) => [k.id, k.name, k.match_type, k.type.width, k.mandatory])).toEqual(
          matchKeys.map((k, i) => [i + 1, k.field, matchType(k.kind), fieldWidth(k.field), false]),
        );
        // Match tables carry table-id prefix 0x02.
        expect(j.id >>> 24).toBe(0x02);
        expect(!!j.has_const_default_action).toBe(!!t.defaultAction?.isConst);
        // The model's default entries (p4/model/defaults.ts) are the program's: p4c's NoAction when none is declared.
        expect(P4_DEFAULTS[t.name]).toEqual({
          action: actionName(t.defaultAction?.name ?? 'NoAction'),
          isConst: !!t.defaultAction?.isConst,
        });
        const specs = (owner: any) =>
          owner.action_specs.map((a: any) => ({
            name: a.name,
            defaultOnly: a.action_scope === 'DefaultOnly',
            params: a.data.map((d: any) => ({ name: d.name, width: d.type.width })),
          }));
        const expected = t.actions.map((a) => ({
          name: actionName(a.name),
          defaultOnly: a.defaultOnly,
          params: actions.get(a.name)!.params,
        }));
        if (t.implementation) {
          expect(t.implementation).toBe(selector[6]);
          expect(j.table_type).toBe('MatchAction_Indirect_Selector');
          expect(j.action_specs ?? []).toEqual([]);
          const ap = get(profile[2]);
          const sel = get(selector[6]);
          expect(j.depends_on.sort()).toEqual([ap.id, sel.id].sort());
          expect(specs(ap)).toEqual(expected);
          expect(j.data[0].mandatory).toBe(true);
          expect(j.data[0].oneof.map((o: any) => [o.id, o.name, o.type.type])).toEqual([
            [65539, '$ACTION_MEMBER_ID', 'uint32'],
            [65540, '$SELECTOR_GROUP_ID', 'uint32'],
          ]);
        } else {
          expect(j.table_type).toBe('MatchAction_Direct');
          expect(specs(j)).toEqual(expected);
        }
      });
    }

    it('action profile and selector follow the ActionProfile/ActionSelector declarations', () => {
      const ap = get(profile[2]);
      const sel = get(selector[6]);
      // Reserved ids and table-id prefixes as bf-p4c emits them (tna_action_selector/bf-rt.json):
      // profile 0x81…, key $ACTION_MEMBER_ID 65539; selector 0x82…, key $SELECTOR_GROUP_ID 65540,
      // data $ACTION_MEMBER_ID 65539, $ACTION_MEMBER_STATUS 65564, $MAX_GROUP_SIZE 65565.
      expect(ap.table_type).toBe('Action');
      expect(ap.id >>> 24).toBe(0x81);
      expect(ap.size).toBe(Number(profile[1]));
      expect(ap.key.map((k: any) => [k.id, k.name, k.match_type, k.type.type, k.mandatory])).toEqual([
        [65539, '$ACTION_MEMBER_ID', 'Exact', 'uint32', true],
      ]);
      expect(sel.table_type).toBe('Selector');
      expect(sel.id >>> 24).toBe(0x82);
      expect(sel.depends_on).toEqual([ap.id]);
      expect(sel.size).toBe(Number(selector[5]));
      expect(sel.key.map((k: any) => [k.id, k.name, k.type.type, k.mandatory])).toEqual([
        [65540, '$SELECTOR_GROUP_ID', 'uint32', true],
      ]);
      const data = sel.data.map((d: any) => d.singleton);
      expect(data.map((d: any) => [d.id, d.name, d.type.type, d.repeated])).toEqual([
        [65539, '$ACTION_MEMBER_ID', 'uint32', true],
        [65564, '$ACTION_MEMBER_STATUS', 'bool', true],
        [65565, '$MAX_GROUP_SIZE', 'uint32', false],
      ]);
      expect(sel.data.every((d: any) => d.mandatory === false)).toBe(true);
      expect(data[2].type.default_value).toBe(Number(selector[4]));
    });

    it('the tables bf-p4c adds: <selector>_get_member and $PORT_METADATA', () => {
      const sel = get(selector[6]);
      const gm = get(`${selector[6]}_get_member`);
      expect([gm.table_type, gm.size, gm.depends_on, gm.id >>> 24, gm.id & 0xffffff]).toEqual([
        'SelectorGetMember',
        1,
        [sel.id],
        0x9a,
        sel.id & 0xffffff,
      ]);
      expect(gm.key.map((k: any) => [k.id, k.name, k.type.type])).toEqual([
        [65563, '$SELECTOR_GROUP_ID', 'uint64'],
        [65581, 'hash_value', 'uint64'],
      ]);
      expect(gm.data.map((d: any) => [d.singleton.id, d.singleton.name, d.singleton.type.type])).toEqual([
        [65562, '$ACTION_MEMBER_ID', 'uint64'],
      ]);
      const pm = byName.get('pipe.SwitchIngressParser.$PORT_METADATA');
      expect([pm.table_type, pm.id >>> 24]).toEqual(['PortMetadata', 0x90]);
      expect(pm.key.map((k: any) => [k.id, k.name, k.type.width])).toEqual([[65574, 'ig_intr_md.ingress_port', 9]]);
      // PORT_METADATA_SIZE: 64 bits in tna.p4, 192 in t2na.p4.
      expect(pm.data[0].singleton).toEqual(
        expect.objectContaining({
          id: 65575,
          name: '$DEFAULT_FIELD',
          type: { type: 'bytes', width: program === 'tna_load_balancer' ? 64 : 192 },
        }),
      );
    });
  });
}

// bf_rt_port_tf1.json: the 33 data fields of $PORT by id (a fact list, written from that file).
const PORT_IDS: [number, string, string, boolean][] = [
  [1, '$SPEED', 'string', false],
  [2, '$FEC', 'string', false],
  [3, '$N_LANES', 'uint32', false],
  [4, '$PORT_ENABLE', 'bool', false],
  [5, '$AUTO_NEGOTIATION', 'string', false],
  [6, '$LOOPBACK_MODE', 'string', false],
  [7, '$TX_MTU', 'uint32', false],
  [8, '$RX_MTU', 'uint32', false],
  [9, '$TX_PFC_EN_MAP', 'uint32', false],
  [10, '$RX_PFC_EN_MAP', 'uint32', false],
  [11, '$TX_PAUSE_FRAME_EN', 'bool', false],
  [12, '$RX_PAUSE_FRAME_EN', 'bool', false],
  [13, '$CUT_THROUGH_EN', 'bool', false],
  [14, '$PORT_DIR', 'string', false],
  [15, '$MEDIA_TYPE', 'string', true],
  [16, '$SDS_TX_ATTN', 'uint32', false],
  [17, '$SDS_TX_PRE', 'int32', false],
  [18, '$SDS_TX_PRE2', 'int32', false],
  [19, '$SDS_TX_POST', 'int32', false],
  [20, '$SDS_TX_POST2', 'int32', false],
  [21, '$IS_VALID', 'bool', true],
  [22, '$IS_INTERNAL', 'bool', true],
  [23, '$CONN_ID', 'uint32', true],
  [24, '$CHNL_ID', 'uint32', true],
  [25, '$PORT_UP', 'bool', true],
  [26, '$PORT_NAME', 'string', true],
  [27, '$RX_PRSR_PRI_THRESH', 'uint32', false],
  [28, '$TIMESTAMP_1588_DELTA_TX', 'uint16', false],
  [29, '$TIMESTAMP_1588_DELTA_RX', 'uint16', false],
  [30, '$TIMESTAMP_1588_VALID', 'bool', true],
  [31, '$TIMESTAMP_1588_VALUE', 'uint64', true],
  [32, '$TIMESTAMP_1588_ID', 'uint32', true],
  [33, '$PLL_OVRCLK', 'float', false],
];

describe('non_p4.bf-rt.json', () => {
  const doc = JSON.parse(readFileSync(join(P4, 'non_p4.bf-rt.json'), 'utf8'));
  const table = (n: string) => doc.tables.find((t: any) => t.name === n);

  it('declares $PORT as bf_rt_port_tf1.json does: id, size, key, every field with its id, type, read-only flag, none mandatory', () => {
    const port = table('$PORT');
    expect([port.id, port.table_type, port.size, port.attributes]).toEqual([
      0xff010001,
      'PortConfigure',
      256,
      ['port_status_notif_cb'],
    ]);
    expect(port.key.map((k: any) => [k.id, k.name, k.type.type, k.mandatory])).toEqual([[1, '$DEV_PORT', 'uint32', true]]);
    expect(port.data.map((d: any) => [d.singleton.id, d.singleton.name, d.singleton.type.type, d.read_only])).toEqual(PORT_IDS);
    expect(port.data.every((d: any) => d.mandatory === false)).toBe(true);
    expect(PORT_FIELDS.map((f) => f.id)).toEqual(PORT_IDS.map((f) => f[0]));
    expect(port.data[0].singleton.type.choices).toContain('BF_SPEED_25G');
    expect(port.data[1].singleton.type.choices).toContain('BF_FEC_TYP_REED_SOLOMON');
    expect(port.data[6].singleton.type.default_value).toBe(10240);
  });

  it('declares the $PORT_*_INFO look-up tables ($PORT_STAT is not modelled)', () => {
    expect(doc.tables.map((t: any) => [t.name, t.id, t.table_type])).toEqual([
      ['$PORT', 0xff010001, 'PortConfigure'],
      ['$PORT_HDL_INFO', 0xff010003, 'PortHdlInfo'],
      ['$PORT_FP_IDX_INFO', 0xff010004, 'PortFpIdxInfo'],
      ['$PORT_STR_INFO', 0xff010005, 'PortStrInfo'],
    ]);
    expect(table('$PORT_HDL_INFO').key.map((k: any) => k.name)).toEqual(['$CONN_ID', '$CHNL_ID']);
    expect(table('$PORT_STR_INFO').key.map((k: any) => [k.name, k.type.type])).toEqual([['$PORT_NAME', 'string']]);
    for (const n of ['$PORT_HDL_INFO', '$PORT_FP_IDX_INFO', '$PORT_STR_INFO']) {
      expect(table(n).data.map((d: any) => [d.singleton.id, d.singleton.name, d.read_only])).toEqual([[1, '$DEV_PORT', true]]);
    }
  });
});
