// Writes the bf-rt.json files of the load balancer and the non-P4 `$PORT` schema.
// There is no p4c here, so this stands in for the compiler's BF Runtime output, following what
// bf-p4c emits for an action-selector program (open-p4studio keeps such outputs in
// bf-drivers/src/tdi_tofino/tests/tofino_context_json_files/tna_action_selector/bf-rt.json) and
// bf-drivers/src/bf_rt/bf_rt_port/bf_rt_port_tf1.json for `$PORT`: the reserved field ids
// (65539 $ACTION_MEMBER_ID, 65540 $SELECTOR_GROUP_ID, 65564 $ACTION_MEMBER_STATUS,
// 65565 $MAX_GROUP_SIZE, …), the table-id prefix of each table type, the mandatory flags and the
// compiler-generated tables. test/p4-schema.test.ts checks the result against load_balancer.p4.
// Not generated: the snapshot tables (pipe.snapshot.*, one data field per PHV field of the
// compiled program, which only the compiler knows) and tbl_dbg_counter.
// Run: npx tsx p4/model/gen-bfrt.ts
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PORT_FIELDS } from './port-fields.ts';

const p4Dir = join(dirname(fileURLToPath(import.meta.url)), '..');

const bytes = (width: number) => ({ type: 'bytes', width });
const uint = (bits: 32 | 64) => ({ type: `uint${bits}` });

/** Reserved ids bf-p4c gives the fields it adds (tna_action_selector/bf-rt.json). */
const RESERVED = {
  ACTION_MEMBER_ID: 65539,
  SELECTOR_GROUP_ID: 65540,
  ACTION_MEMBER_STATUS: 65564,
  MAX_GROUP_SIZE: 65565,
  GET_MEMBER_GROUP_ID: 65563,
  GET_MEMBER_HASH: 65581,
  GET_MEMBER_MEMBER_ID: 65562,
  PORT_METADATA_KEY: 65574,
  PORT_METADATA_DEFAULT_FIELD: 65575,
};

/** The top byte of a table id is its kind: 0x02 match tables, 0x81 action profiles, 0x82 selectors,
 * 0x9a their get-member tables (same low 24 bits as the selector), 0x90 $PORT_METADATA. */
const tableId = (prefix: number, low24: number) => ((prefix << 24) | (low24 & 0xffffff)) >>> 0;

const param = (id: number, name: string, width: number) => ({
  id,
  name,
  repeated: false,
  mandatory: true,
  read_only: false,
  annotations: [],
  type: bytes(width),
});

const ACTIONS = {
  set_rewrite_dst: {
    id: 23140003,
    name: 'SwitchIngress.set_rewrite_dst',
    action_scope: 'TableAndDefault',
    annotations: [],
    data: [param(1, 'new_dst', 32)],
  },
  set_rewrite_src: {
    id: 31299610,
    name: 'SwitchIngress.set_rewrite_src',
    action_scope: 'TableAndDefault',
    annotations: [],
    data: [param(1, 'new_src', 32)],
  },
  set_egress_port: {
    id: 28105733,
    name: 'SwitchIngress.set_egress_port',
    action_scope: 'TableAndDefault',
    annotations: [],
    data: [param(1, 'port', 9)],
  },
  set_egress_port_with_mac: {
    id: 19630277,
    name: 'SwitchIngress.set_egress_port_with_mac',
    action_scope: 'TableAndDefault',
    annotations: [],
    data: [param(1, 'port', 9), param(2, 'dst_mac', 48)],
  },
  drop: {
    id: 24412349,
    name: 'SwitchIngress.drop',
    action_scope: 'DefaultOnly',
    annotations: [{ name: '@defaultonly' }],
    data: [],
  },
  NoAction: { id: 21257015, name: 'NoAction', action_scope: 'DefaultOnly', annotations: [{ name: '@defaultonly' }], data: [] },
};

const ID = {
  ap: tableId(0x81, 0x4ca92c),
  sel: tableId(0x82, 0x4a1f4d),
  getMember: tableId(0x9a, 0x4a1f4d),
  node_selector: tableId(0x02, 0x65ea26),
  forward: tableId(0x02, 0xdee7fb),
  client_snat: tableId(0x02, 0x3c3d03),
  arp_forward: tableId(0x02, 0xad9889),
  portMetadata: tableId(0x90, 0x9b7958),
};

// bf-p4c marks the match keys of a P4 table optional (mandatory: false; an exact key left out is 0)
// and the keys it adds to its own tables mandatory.
const exactKey = (name: string, width: number) => ({
  id: 1,
  name,
  repeated: false,
  annotations: [],
  mandatory: false,
  match_type: 'Exact',
  type: bytes(width),
});
const reservedKey = (id: number, name: string, type: object = uint(32)) => ({
  id,
  name,
  repeated: false,
  annotations: [],
  mandatory: true,
  match_type: 'Exact',
  type,
});
const singleton = (
  id: number,
  name: string,
  type: object,
  opts: { repeated?: boolean; mandatory?: boolean; readOnly?: boolean; annotations?: object[] } = {},
) => ({
  mandatory: opts.mandatory ?? false,
  read_only: opts.readOnly ?? false,
  singleton: { id, name, repeated: opts.repeated ?? false, annotations: opts.annotations ?? [], type },
});

const directTable = (id: number, name: string, key: object, actions: object[]) => ({
  name: `pipe.SwitchIngress.${name}`,
  id,
  table_type: 'MatchAction_Direct',
  size: 1024,
  annotations: [],
  depends_on: [],
  has_const_default_action: true,
  key: [key],
  action_specs: actions,
  data: [],
  supported_operations: [],
  attributes: ['EntryScope'],
});

function program(arch: 'tna' | 't2na') {
  return {
    schema_version: '1.0.0',
    tables: [
      {
        name: 'pipe.SwitchIngress.node_selector',
        id: ID.node_selector,
        table_type: 'MatchAction_Indirect_Selector',
        size: 1024,
        annotations: [],
        depends_on: [ID.sel, ID.ap],
        has_const_default_action: false,
        key: [exactKey('hdr.ipv4.dst_addr', 32)],
        data: [
          {
            mandatory: true,
            read_only: false,
            oneof: [
              { id: RESERVED.ACTION_MEMBER_ID, name: '$ACTION_MEMBER_ID', repeated: false, annotations: [], type: uint(32) },
              { id: RESERVED.SELECTOR_GROUP_ID, name: '$SELECTOR_GROUP_ID', repeated: false, annotations: [], type: uint(32) },
            ],
          },
        ],
        supported_operations: [],
        attributes: ['EntryScope'],
      },
      directTable(ID.forward, 'forward', exactKey('hdr.ipv4.dst_addr', 32), [
        ACTIONS.set_egress_port,
        ACTIONS.set_egress_port_with_mac,
        ACTIONS.drop,
      ]),
      directTable(ID.client_snat, 'client_snat', exactKey('hdr.tcp.src_port', 16), [ACTIONS.set_rewrite_src, ACTIONS.NoAction]),
      directTable(ID.arp_forward, 'arp_forward', exactKey('hdr.arp.target_proto_addr', 32), [
        ACTIONS.set_egress_port,
        ACTIONS.drop,
      ]),
      {
        name: 'pipe.SwitchIngress.action_selector_ap',
        id: ID.ap,
        table_type: 'Action',
        size: 4,
        annotations: [],
        depends_on: [],
        key: [reservedKey(RESERVED.ACTION_MEMBER_ID, '$ACTION_MEMBER_ID')],
        action_specs: [ACTIONS.set_rewrite_dst],
        data: [],
        supported_operations: [],
        attributes: [],
      },
      {
        name: 'pipe.SwitchIngress.action_selector',
        id: ID.sel,
        table_type: 'Selector',
        size: 1,
        annotations: [],
        depends_on: [ID.ap],
        key: [reservedKey(RESERVED.SELECTOR_GROUP_ID, '$SELECTOR_GROUP_ID')],
        data: [
          singleton(RESERVED.ACTION_MEMBER_ID, '$ACTION_MEMBER_ID', uint(32), { repeated: true }),
          singleton(RESERVED.ACTION_MEMBER_STATUS, '$ACTION_MEMBER_STATUS', { type: 'bool' }, { repeated: true }),
          singleton(RESERVED.MAX_GROUP_SIZE, '$MAX_GROUP_SIZE', { type: 'uint32', default_value: 4 }),
        ],
        supported_operations: [],
        attributes: [],
      },
      {
        name: 'pipe.SwitchIngress.action_selector_get_member',
        id: ID.getMember,
        table_type: 'SelectorGetMember',
        size: 1,
        annotations: [],
        depends_on: [ID.sel],
        key: [
          reservedKey(RESERVED.GET_MEMBER_GROUP_ID, '$SELECTOR_GROUP_ID', uint(64)),
          reservedKey(RESERVED.GET_MEMBER_HASH, 'hash_value', uint(64)),
        ],
        data: [singleton(RESERVED.GET_MEMBER_MEMBER_ID, '$ACTION_MEMBER_ID', uint(64))],
        supported_operations: [],
        attributes: [],
      },
      {
        // PORT_METADATA_SIZE of the architecture: 64 bits on TNA, 192 on T2NA.
        name: 'pipe.SwitchIngressParser.$PORT_METADATA',
        id: ID.portMetadata,
        table_type: 'PortMetadata',
        size: 288,
        annotations: [],
        depends_on: [],
        key: [reservedKey(RESERVED.PORT_METADATA_KEY, 'ig_intr_md.ingress_port', bytes(9))],
        data: [singleton(RESERVED.PORT_METADATA_DEFAULT_FIELD, '$DEFAULT_FIELD', bytes(arch === 'tna' ? 64 : 192))],
        supported_operations: [],
        attributes: [],
      },
    ],
    learn_filters: [],
  };
}

function nonP4() {
  const devPortOnly = (id: number, name: string, type: string, key: object[]) => ({
    name,
    id,
    table_type: type,
    size: 256,
    annotations: [],
    depends_on: [],
    key,
    data: [
      singleton(1, '$DEV_PORT', uint(32), {
        readOnly: true,
        annotations: [{ name: '$bfrt_port_type_class', value: 'dev_port' }],
      }),
    ],
    supported_operations: [],
    attributes: [],
  });
  const infoKey = (id: number, name: string, type: object, cls: string) => ({
    id,
    name,
    repeated: false,
    annotations: [{ name: '$bfrt_port_type_class', value: cls }],
    mandatory: true,
    match_type: 'Exact',
    type,
  });
  return {
    schema_version: '1.0.0',
    tables: [
      {
        name: '$PORT',
        id: 0xff010001,
        table_type: 'PortConfigure',
        size: 256,
        annotations: [],
        depends_on: [],
        key: [
          {
            id: 1,
            name: '$DEV_PORT',
            repeated: false,
            annotations: [{ name: '$bfrt_port_type_class', value: 'dev_port' }],
            mandatory: true,
            match_type: 'Exact',
            type: uint(32),
          },
        ],
        data: PORT_FIELDS.map((f) => singleton(f.id, f.name, f.type, { readOnly: f.readOnly, annotations: f.annotations })),
        supported_operations: [],
        attributes: ['port_status_notif_cb'],
      },
      devPortOnly(0xff010003, '$PORT_HDL_INFO', 'PortHdlInfo', [
        infoKey(1, '$CONN_ID', { type: 'uint32', default_value: 0 }, 'port_hdl_conn_id'),
        infoKey(2, '$CHNL_ID', { type: 'uint32', default_value: 0 }, 'port_hdl_chnl_id'),
      ]),
      devPortOnly(0xff010004, '$PORT_FP_IDX_INFO', 'PortFpIdxInfo', [
        infoKey(1, '$FP_IDX', { type: 'uint32', default_value: 0 }, 'fp_port'),
      ]),
      devPortOnly(0xff010005, '$PORT_STR_INFO', 'PortStrInfo', [infoKey(1, '$PORT_NAME', { type: 'string' }, 'port_name')]),
    ],
    learn_filters: [],
  };
}

const write = (name: string, doc: object) => writeFileSync(join(p4Dir, name), JSON.stringify(doc, null, 2) + '\n');
write('tna_load_balancer.bf-rt.json', program('tna'));
write('t2na_load_balancer.bf-rt.json', program('t2na'));
write('non_p4.bf-rt.json', nonP4());
console.log(`wrote bf-rt.json files into ${p4Dir}`);
