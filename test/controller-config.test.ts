// Pure logic of the controller: bf-rt.json name resolution, value encoding, config validation.
import { defaultConfig } from '../lib/config/load.ts';
import { describe, expect, it } from 'vitest';
import { parseControllerConfig } from '../controller/config.ts';
import { controllerConfigFromP4cf } from '../controller/config-from-p4cf.ts';
import { byName, dataField, decodeBytes, encodeBytes, keyField, parseBfrtJson } from '../controller/schema.ts';
import { KEYS } from '../lib/config/keys.ts';

const bfrt = JSON.stringify({
  schema_version: '1.0.0',
  tables: [
    {
      name: 'pipe.SwitchIngress.forward',
      id: 10,
      table_type: 'MatchAction_Direct',
      key: [{ id: 1, name: 'hdr.ipv4.dst_addr', match_type: 'Exact', type: { type: 'bytes', width: 32 } }],
      action_specs: [
        { id: 100, name: 'SwitchIngress.set_egress_port', data: [{ id: 1, name: 'port', type: { type: 'bytes', width: 9 } }] },
        {
          id: 101,
          name: 'SwitchIngress.set_egress_port_with_mac',
          data: [
            { id: 1, name: 'port', type: { type: 'bytes', width: 9 } },
            { id: 2, name: 'dst_mac', type: { type: 'bytes', width: 48 } },
          ],
        },
      ],
      data: [],
    },
    { name: 'pipe.SwitchIngress.arp_forward', id: 11, table_type: 'MatchAction_Direct', key: [], action_specs: [], data: [] },
    {
      name: 'pipe.SwitchIngress.action_selector',
      id: 12,
      table_type: 'Selector',
      key: [{ id: 1, name: '$SELECTOR_GROUP_ID', match_type: 'Exact', type: { type: 'uint32' } }],
      data: [
        {
          mandatory: false,
          read_only: false,
          singleton: { id: 1, name: '$MAX_GROUP_SIZE', repeated: false, type: { type: 'uint32' } },
        },
        {
          mandatory: false,
          read_only: false,
          singleton: { id: 2, name: '$ACTION_MEMBER_ID', repeated: true, type: { type: 'uint32' } },
        },
        {
          mandatory: false,
          read_only: false,
          singleton: { id: 3, name: '$ACTION_MEMBER_STATUS', repeated: true, type: { type: 'bool' } },
        },
      ],
    },
    {
      name: 'pipe.SwitchIngress.node_selector',
      id: 13,
      table_type: 'MatchAction_Indirect_Selector',
      key: [],
      data: [
        {
          mandatory: false,
          read_only: false,
          oneof: [
            { id: 65537, name: '$ACTION_MEMBER_ID', repeated: false, type: { type: 'uint32' } },
            { id: 65538, name: '$SELECTOR_GROUP_ID', repeated: false, type: { type: 'uint32' } },
          ],
        },
      ],
    },
  ],
});

describe('bf-rt.json names', () => {
  const tables = parseBfrtJson(bfrt);
  it('finds a table with or without the pipe prefix, or by a unique suffix', () => {
    expect(byName(tables, 'pipe.SwitchIngress.forward', 't').id).toBe(10);
    expect(byName(tables, 'SwitchIngress.forward', 't').id).toBe(10);
    expect(byName(tables, 'forward', 't').id).toBe(10);
    expect(byName(tables, 'arp_forward', 't').id).toBe(11);
    expect(byName(tables, 'action_selector', 't').id).toBe(12);
  });
  it('names the unknown table and lists the known ones', () => {
    expect(() => byName(tables, 'SwitchIngress.nope', 'table')).toThrow(
      /unknown table "SwitchIngress.nope".*pipe.SwitchIngress.forward/,
    );
  });
  it('flattens singleton and oneof data items', () => {
    expect(byName(tables, 'node_selector', 't').data.map((d) => d.id)).toEqual([65537, 65538]);
    const sel = byName(tables, 'action_selector', 't');
    expect(sel.data.find((d) => d.name === '$ACTION_MEMBER_STATUS')).toMatchObject({ kind: 'bool', repeated: true });
  });
});

describe('value encoding', () => {
  it('sizes big-endian values to ceil(width/8)', () => {
    expect(encodeBytes('192.168.12.2', 32, 'f')).toEqual(Buffer.from([192, 168, 12, 2]));
    expect(encodeBytes('02:42:c0:a8:0c:02', 48, 'f')).toEqual(Buffer.from([2, 0x42, 0xc0, 0xa8, 0x0c, 2]));
    expect(encodeBytes(148, 9, 'f')).toEqual(Buffer.from([0, 148]));
    expect(encodeBytes(511, 9, 'f')).toEqual(Buffer.from([1, 255]));
    expect(encodeBytes(8080, 16, 'f')).toEqual(Buffer.from([0x1f, 0x90]));
  });
  it('refuses values that do not fit or are not numbers', () => {
    expect(() => encodeBytes(512, 9, 'port')).toThrow(/port: value 512 does not fit in 9 bits/);
    expect(() => encodeBytes(-1, 16, 'p')).toThrow(/cannot encode/);
    expect(() => encodeBytes('300.1.1.1', 32, 'ip')).toThrow(/cannot encode/);
  });
  it('round-trips readable forms', () => {
    expect(decodeBytes(encodeBytes('10.0.0.7', 32, 'f'), { kind: 'bytes', width: 32 })).toBe('10.0.0.7');
    expect(decodeBytes(encodeBytes('aa:bb:cc:dd:ee:ff', 48, 'f'), { kind: 'bytes', width: 48 })).toBe('aa:bb:cc:dd:ee:ff');
    expect(decodeBytes(encodeBytes(140, 9, 'f'), { kind: 'bytes', width: 9 })).toBe(140);
  });
  it('picks the DataField member from the field type', () => {
    const sel = byName(parseBfrtJson(bfrt), 'action_selector', 't');
    const f = (n: string) => sel.data.find((d) => d.name === n)!;
    expect(dataField(f('$MAX_GROUP_SIZE'), 4, 'x')).toEqual({ field_id: 1, stream: Buffer.from([0, 0, 0, 4]) });
    expect(dataField(f('$ACTION_MEMBER_ID'), [0, 1], 'x')).toEqual({ field_id: 2, int_arr_val: { val: [0, 1] } });
    expect(dataField(f('$ACTION_MEMBER_STATUS'), [true, false], 'x')).toEqual({
      field_id: 3,
      bool_arr_val: { val: [true, false] },
    });
    expect(keyField(sel.keys[0], 1, 't')).toEqual({ field_id: 1, exact: { value: Buffer.from([0, 0, 0, 1]) } });
  });
});

const good = {
  id: 0,
  client_id: 0,
  addr: '127.0.0.1:50052',
  load_balancer_ip: '192.168.12.10',
  service_port: 8080,
  port_setup: [{ dev_port: 140, speed: 'BF_SPEED_25G', fec: 'BF_FEC_TYP_REED_SOLOMON', auto_neg: 'PM_AN_DEFAULT' }],
  nodes: [
    { ipv4: '192.168.12.100', sw_port: 140 },
    { ipv4: '192.168.12.2', sw_port: 140, is_lb_node: true },
  ],
};

describe('controller config', () => {
  it('accepts the original file shape (one-element array, auto_neg)', () => {
    const c = parseControllerConfig([good]);
    expect(c.program).toBe('tna_load_balancer');
    expect(c.port_setup[0].an).toBe('PM_AN_DEFAULT');
    expect(c.nodes[1]).toEqual({ ipv4: '192.168.12.2', sw_port: 140, is_lb_node: true });
  });
  it('picks the program from the arch unless the file names it', () => {
    expect(parseControllerConfig(good, { arch: 'tf2' }).program).toBe('t2na_load_balancer');
    expect(parseControllerConfig({ ...good, name: 'my_prog' }, { arch: 'tf2' }).program).toBe('my_prog');
    expect(parseControllerConfig({ ...good, name: 'my_prog' }, { program: 't2na_load_balancer' }).program).toBe(
      't2na_load_balancer',
    );
  });
  it.each([
    [{ ...good, load_balancer_ip: '192.168.12' }, /load_balancer_ip must be an IPv4 address/],
    [{ ...good, service_port: 70000 }, /service_port must be an integer 1..65535/],
    [{ ...good, nodes: [] }, /nodes must be a non-empty array/],
    [{ ...good, nodes: [{ ipv4: '1.2.3.4', sw_port: 600 }] }, /nodes\[0\].sw_port must be an integer 0..511/],
    [{ ...good, nodes: [{ ipv4: '1.2.3.4', sw_port: 1, dst_mac: 'zz' }] }, /nodes\[0\].dst_mac must be a MAC/],
    [{ ...good, port_setup: [{ dev_port: 1, speed: '25G', fec: 'BF_FEC_TYP_NONE' }] }, /port_setup\[0\].speed must be BF_SPEED_/],
    [{ ...good, arch: 'tf3' }, /arch must be "tf1" or "tf2"/],
    [[good, good], /exactly one switch/],
  ])('names the bad field (%#)', (raw, re) => {
    expect(() => parseControllerConfig(raw)).toThrow(re);
  });
});

describe('controller config from p4cf keys', () => {
  const cfg = defaultConfig(['--set', 'ARCH=tf2']);
  const defaults = Object.fromEntries(Object.entries(KEYS).map(([k, d]) => [k, d.default])) as Record<string, string>;
  it('maps servers, shim, VIP, ports and program', () => {
    const c = controllerConfigFromP4cf(cfg);
    expect(c.program).toBe('t2na_load_balancer');
    expect(c.addr).toBe(defaults.BFRT_GRPC_ADDR);
    expect(c.load_balancer_ip).toBe(defaults.VIP);
    expect(c.service_port).toBe(8080);
    expect(c.port_setup.map((p) => p.dev_port)).toEqual([140, 148]);
    expect(c.port_setup[0]).toMatchObject({
      speed: defaults.SWITCH_PORT_SPEED,
      fec: defaults.SWITCH_PORT_FEC,
      an: defaults.SWITCH_PORT_AN,
    });
    expect(c.nodes).toEqual([
      { ipv4: defaults.H2_IP, sw_port: 140, dst_mac: defaults.H2_MAC, is_lb_node: true },
      { ipv4: defaults.H3_IP, sw_port: 148, dst_mac: defaults.H3_MAC, is_lb_node: true },
      { ipv4: defaults.SHIM_IP, sw_port: 140, dst_mac: defaults.SHIM_MAC, is_lb_node: false },
    ]);
  });

  it('sets up the port of every server, and puts the shim on LOADGEN_HOST', () => {
    const c = controllerConfigFromP4cf(
      defaultConfig([
        '--set',
        'SERVERS=lakewood,loveland,boulder',
        '--set',
        'BOULDER_SW_PORT=160',
        '--set',
        'LOADGEN_HOST=boulder',
      ]),
    );
    expect(c.port_setup.map((p) => p.dev_port)).toEqual([140, 148, 160]);
    expect(c.nodes.find((n) => n.ipv4 === defaults.SHIM_IP)?.sw_port).toBe(160);
  });
});
