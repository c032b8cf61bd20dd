// Writes the bf-rt.json files of the load balancer and the non-P4 `$PORT` schema.
// There is no p4c here, so this stands in for the compiler's BF Runtime output; the
// p4-schema test checks the result against the declarations in load_balancer.p4.
// Run: npx tsx p4/model/gen-bfrt.ts
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const p4Dir = join(dirname(fileURLToPath(import.meta.url)), '..');

const bytes = (width: number) => ({ type: 'bytes', width });
const uint32 = { type: 'uint32' };

const param = (id: number, name: string, width: number) => ({
  id, name, repeated: false, mandatory: true, read_only: false, annotations: [], type: bytes(width),
});

const ACTIONS = {
  set_rewrite_dst: { id: 23140003, name: 'SwitchIngress.set_rewrite_dst', action_scope: 'TableAndDefault', annotations: [], data: [param(1, 'new_dst', 32)] },
  set_rewrite_src: { id: 31299610, name: 'SwitchIngress.set_rewrite_src', action_scope: 'TableAndDefault', annotations: [], data: [param(1, 'new_src', 32)] },
  set_egress_port: { id: 28105733, name: 'SwitchIngress.set_egress_port', action_scope: 'TableAndDefault', annotations: [], data: [param(1, 'port', 9)] },
  set_egress_port_with_mac: { id: 19630277, name: 'SwitchIngress.set_egress_port_with_mac', action_scope: 'TableAndDefault', annotations: [],
    data: [param(1, 'port', 9), param(2, 'dst_mac', 48)] },
  drop: { id: 24412349, name: 'SwitchIngress.drop', action_scope: 'DefaultOnly', annotations: [{ name: '@defaultonly' }], data: [] },
  NoAction: { id: 21257015, name: 'NoAction', action_scope: 'DefaultOnly', annotations: [{ name: '@defaultonly' }], data: [] },
};

const ID = { ap: 290236716, sel: 2152341325 >>> 0, node_selector: 40233510, forward: 48162811, client_snat: 37502211, arp_forward: 44931209 };

const exactKey = (name: string, width: number) => ({
  id: 1, name, repeated: false, annotations: [], mandatory: true, match_type: 'Exact', type: bytes(width),
});
const reservedKey = (name: string) => ({
  id: 1, name, repeated: false, annotations: [], mandatory: true, match_type: 'Exact', type: uint32,
});
const singleton = (id: number, name: string, type: object, opts: { repeated?: boolean; mandatory?: boolean } = {}) => ({
  mandatory: opts.mandatory ?? false, read_only: false,
  singleton: { id, name, repeated: opts.repeated ?? false, annotations: [], type },
});

const directTable = (id: number, name: string, key: object, actions: object[]) => ({
  name: `pipe.SwitchIngress.${name}`, id, table_type: 'MatchAction_Direct', size: 1024, annotations: [],
  depends_on: [], has_const_default_action: true, key: [key], action_specs: actions, data: [],
  supported_operations: [], attributes: ['EntryScope'],
});

function program() {
  return {
    schema_version: '1.0.0',
    tables: [
      {
        name: 'pipe.SwitchIngress.action_selector_ap', id: ID.ap, table_type: 'Action', size: 4, annotations: [],
        depends_on: [], key: [reservedKey('$ACTION_MEMBER_ID')], action_specs: [ACTIONS.set_rewrite_dst], data: [],
        supported_operations: [], attributes: [],
      },
      {
        name: 'pipe.SwitchIngress.action_selector', id: ID.sel, table_type: 'Selector', size: 1, annotations: [],
        depends_on: [ID.ap], key: [reservedKey('$SELECTOR_GROUP_ID')],
        data: [
          singleton(1, '$MAX_GROUP_SIZE', { type: 'uint32', default_value: 4 }),
          singleton(2, '$ACTION_MEMBER_ID', uint32, { repeated: true }),
          singleton(3, '$ACTION_MEMBER_STATUS', { type: 'bool' }, { repeated: true }),
        ],
        supported_operations: [], attributes: ['SelectorGetMemberCall'],
      },
      {
        name: 'pipe.SwitchIngress.node_selector', id: ID.node_selector, table_type: 'MatchAction_Indirect_Selector', size: 1024,
        annotations: [], depends_on: [ID.ap, ID.sel], key: [exactKey('hdr.ipv4.dst_addr', 32)],
        data: [{
          mandatory: false, read_only: false,
          oneof: [
            { id: 65537, name: '$ACTION_MEMBER_ID', repeated: false, annotations: [], type: uint32 },
            { id: 65538, name: '$SELECTOR_GROUP_ID', repeated: false, annotations: [], type: uint32 },
          ],
        }],
        supported_operations: [], attributes: ['EntryScope'],
      },
      directTable(ID.forward, 'forward', exactKey('hdr.ipv4.dst_addr', 32),
        [ACTIONS.set_egress_port, ACTIONS.set_egress_port_with_mac, ACTIONS.drop]),
      directTable(ID.client_snat, 'client_snat', exactKey('hdr.tcp.src_port', 16), [ACTIONS.set_rewrite_src, ACTIONS.NoAction]),
      directTable(ID.arp_forward, 'arp_forward', exactKey('hdr.arp.target_proto_addr', 32), [ACTIONS.set_egress_port, ACTIONS.drop]),
    ],
    learn_filters: [],
  };
}

function nonP4() {
  const str = (choices: string[], dflt?: string) => ({ type: 'string', choices, ...(dflt ? { default_value: dflt } : {}) });
  return {
    schema_version: '1.0.0',
    tables: [{
      name: '$PORT', id: 4278255617 >>> 0, table_type: 'PortConfigure', size: 1024, annotations: [], depends_on: [],
      key: [{ id: 1, name: '$DEV_PORT', repeated: false, annotations: [], mandatory: true, match_type: 'Exact', type: uint32 }],
      data: [
        singleton(1, '$SPEED', str(['BF_SPEED_NONE', 'BF_SPEED_1G', 'BF_SPEED_10G', 'BF_SPEED_25G', 'BF_SPEED_40G',
          'BF_SPEED_50G', 'BF_SPEED_100G', 'BF_SPEED_200G', 'BF_SPEED_400G']), { mandatory: true }),
        singleton(2, '$FEC', str(['BF_FEC_TYP_NONE', 'BF_FEC_TYP_FIRECODE', 'BF_FEC_TYP_REED_SOLOMON',
          'BF_FEC_TYP_FC', 'BF_FEC_TYP_RS']), { mandatory: true }),
        singleton(3, '$AUTO_NEGOTIATION', str(['PM_AN_DEFAULT', 'PM_AN_FORCE_ENABLE', 'PM_AN_FORCE_DISABLE'], 'PM_AN_DEFAULT')),
        singleton(4, '$PORT_ENABLE', { type: 'bool', default_value: false }),
      ],
      supported_operations: [], attributes: [],
    }],
    learn_filters: [],
  };
}

const write = (name: string, doc: object) => writeFileSync(join(p4Dir, name), JSON.stringify(doc, null, 2) + '\n');
write('tna_load_balancer.bf-rt.json', program());
write('t2na_load_balancer.bf-rt.json', program());
write('non_p4.bf-rt.json', nonP4());
console.log(`wrote bf-rt.json files into ${p4Dir}`);
