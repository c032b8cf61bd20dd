// The switch model's BF Runtime gRPC service, through a bare grpc-js client of the proto:
// session rules (subscribe, one bound client), pipeline config, and switchd's write/read
// semantics including referential integrity. Tables only (--dry-dataplane), no root needed.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { status } from '@grpc/grpc-js';
import {
  type ModelProcess,
  type RawClient,
  ipBytes,
  lbEntries,
  rawClient,
  resolver,
  startModel,
  uintBytes,
  updateErrors,
} from '../p4/model/raw-client.ts';

const PROGRAM = 'tna_load_balancer';

let model: ModelProcess;
let addr: string;
const clients: RawClient[] = [];
const client = (id: number) => {
  const c = rawClient(addr, id);
  clients.push(c);
  return c;
};

beforeAll(async () => {
  model = await startModel({
    listen: '127.0.0.1:0',
    program: PROGRAM,
    dry: true,
    ports: [
      [140, 'p4md-x140'],
      [148, 'p4md-x148'],
    ],
  });
  addr = model.addr;
});
afterAll(async () => {
  for (const c of clients) c.close();
  await model?.stop();
});

/** An RPC refused as a whole (switchd's check_and_return: a plain status, no per-update details). */
async function expectCode(p: Promise<unknown>, code: number, text?: RegExp) {
  const err: any = await p.then(
    () => undefined,
    (e) => e,
  );
  expect(err, 'call should have failed').toBeDefined();
  expect(status[err.code]).toBe(status[code]);
  if (text) expect(err.details).toMatch(text);
  return err;
}

/** A one-update Write/Read that failed: UNKNOWN "Write/Read Error Status", the update's own code in the details. */
async function expectUpdateCode(p: Promise<unknown>, code: number, text?: RegExp) {
  const err: any = await p.then(
    () => undefined,
    (e) => e,
  );
  expect(err, 'call should have failed').toBeDefined();
  expect(status[err.code]).toBe('UNKNOWN');
  expect(err.details).toMatch(/^(Write|Read) Error Status$/);
  const details = updateErrors(err)!;
  expect(details).toHaveLength(1);
  expect(status[details[0].canonical_code]).toBe(status[code]);
  if (text) expect(details[0].message).toMatch(text);
  return details[0];
}

describe('model gRPC session', () => {
  it('answers Subscribe with status 0 and serves the program and $PORT schemas', async () => {
    const c = client(1);
    const sub = await c.subscribe();
    expect(sub.status.code).toBe(0);
    const cfg = await c.getConfig();
    expect(cfg.config[0].p4_name).toBe(PROGRAM);
    const names = JSON.parse(cfg.config[0].bfruntime_info.toString())
      .tables.map((t: any) => t.name)
      .sort();
    expect(names).toEqual([
      'pipe.SwitchIngress.action_selector',
      'pipe.SwitchIngress.action_selector_ap',
      'pipe.SwitchIngress.action_selector_get_member',
      'pipe.SwitchIngress.arp_forward',
      'pipe.SwitchIngress.client_snat',
      'pipe.SwitchIngress.forward',
      'pipe.SwitchIngress.node_selector',
      'pipe.SwitchIngressParser.$PORT_METADATA',
    ]);
    const nonP4 = JSON.parse(cfg.non_p4_config.bfruntime_info.toString());
    const port = nonP4.tables.find((t: any) => t.name === '$PORT');
    expect(port.table_type).toBe('PortConfigure');
    expect(port.data.map((d: any) => d.singleton.name)).toEqual(
      expect.arrayContaining(['$SPEED', '$FEC', '$AUTO_NEGOTIATION', '$PORT_ENABLE', '$PORT_UP']),
    );
    c.close();
  });

  it('binds one client at a time and releases the binding when its stream closes', async () => {
    const a = client(10);
    const b = client(11);
    await a.subscribe();
    await b.subscribe();
    await a.bind(PROGRAM);
    await expectCode(b.bind(PROGRAM), status.ALREADY_EXISTS, /already bound to client 10/);
    await expectCode(b.write(PROGRAM, []), status.FAILED_PRECONDITION, /not bound/);
    await expectCode(b.bind('other_program'), status.INVALID_ARGUMENT, /other_program/);
    a.closeStream();
    // The server learns of the cancel asynchronously: retry for a bounded time.
    let bound = false;
    for (let i = 0; i < 50 && !bound; i++) {
      bound = await b.bind(PROGRAM).then(
        () => true,
        () => false,
      );
      if (!bound) await new Promise((r) => setTimeout(r, 100));
    }
    expect(bound).toBe(true);
    await expectCode(a.write(PROGRAM, []), status.FAILED_PRECONDITION);
    b.close();
  });

  it('refuses to bind a client that has not subscribed', async () => {
    await expectCode(client(12).bind(PROGRAM), status.FAILED_PRECONDITION, /subscribed/);
  });
});

describe('model table semantics', () => {
  let c: RawClient;
  let r: ReturnType<typeof resolver>;
  let lb: ReturnType<typeof lbEntries>;
  const T = (s: string) => r.table(s);
  const w = (type: string, entry: object) => c.write(PROGRAM, [{ type, entry }]);

  beforeAll(async () => {
    c = client(20);
    await c.subscribe();
    await c.bind(PROGRAM);
    r = resolver((await c.getConfig()).config[0].bfruntime_info.toString());
    lb = lbEntries(r);
  });

  it('inserts, reads, modifies and deletes forward entries with switchd errors', async () => {
    const t = T('forward');
    await w('INSERT', lb.forward('192.168.12.2', 140));
    await w('INSERT', lb.forward('192.168.12.3', 148, '02:42:c0:a8:0c:03'));
    await expectUpdateCode(
      w('INSERT', lb.forward('192.168.12.2', 148)),
      status.ALREADY_EXISTS,
      /forward.*192\.168\.12\.2.*already exists/,
    );
    const all = await c.read(PROGRAM, { table_id: t.id });
    expect(all.length).toBe(2);

    await w('MODIFY', lb.forward('192.168.12.2', 148, '02:42:c0:a8:0c:02'));
    const [one] = await c.read(PROGRAM, { table_id: t.id, ...lb.exact(t, 'hdr.ipv4.dst_addr', ipBytes('192.168.12.2')) });
    expect(one.data.action_id).toBe(r.action(t, 'set_egress_port_with_mac').id);
    expect(one.data.fields.map((f: any) => [...f.stream])).toEqual([
      [0, 148],
      [2, 0x42, 0xc0, 0xa8, 0x0c, 0x02],
    ]);

    await expectUpdateCode(w('MODIFY', lb.forward('192.168.12.99', 140)), status.NOT_FOUND, /192\.168\.12\.99.*not found/);
    await expectUpdateCode(
      w('DELETE', { table_id: t.id, ...lb.exact(t, 'hdr.ipv4.dst_addr', ipBytes('192.168.12.99')) }),
      status.NOT_FOUND,
    );
    await w('INSERT_OR_MODIFY', lb.forward('192.168.12.4', 140));
    await w('INSERT_OR_MODIFY', lb.forward('192.168.12.4', 148));
    await w('DELETE', { table_id: t.id, ...lb.exact(t, 'hdr.ipv4.dst_addr', ipBytes('192.168.12.3')) });
    await expectUpdateCode(
      c.read(PROGRAM, { table_id: t.id, ...lb.exact(t, 'hdr.ipv4.dst_addr', ipBytes('192.168.12.3')) }),
      status.NOT_FOUND,
    );
    expect((await c.read(PROGRAM, { table_id: t.id })).length).toBe(2);
    await w('DELETE', { table_id: t.id });
    expect(await c.read(PROGRAM, { table_id: t.id })).toEqual([]);
  });

  it('rejects bad input: unknown table, field, action, wrong byte width, default-only action', async () => {
    const t = T('forward');
    await expectUpdateCode(w('INSERT', { ...lb.forward('10.0.0.1', 140), table_id: 12345 }), status.NOT_FOUND, /12345/);
    const badField = lb.forward('10.0.0.1', 140);
    badField.key.fields[0].field_id = 99;
    await expectUpdateCode(w('INSERT', badField), status.INVALID_ARGUMENT, /key field with id 99/);
    await expectUpdateCode(
      w('INSERT', { ...lb.forward('10.0.0.1', 140), data: { action_id: 777, fields: [] } }),
      status.INVALID_ARGUMENT,
      /action id 777/,
    );
    await expectUpdateCode(
      w('INSERT', {
        table_id: t.id,
        ...lb.exact(t, 'hdr.ipv4.dst_addr', Buffer.from([10, 0, 1])),
        data: lb.forward('10.0.0.1', 140).data,
      }),
      status.INVALID_ARGUMENT,
      /3 bytes, expected 4/,
    );
    const wide = lb.forward('10.0.0.1', 140);
    wide.data.fields[0].stream = uintBytes(140, 4);
    await expectUpdateCode(w('INSERT', wide), status.INVALID_ARGUMENT, /port.*4 bytes, expected 2/);
    const over = lb.forward('10.0.0.1', 140);
    over.data.fields[0].stream = uintBytes(600, 2);
    await expectUpdateCode(w('INSERT', over), status.INVALID_ARGUMENT, /exceeds 9 bits/);
    await expectUpdateCode(
      w('INSERT', { ...lb.forward('10.0.0.1', 140), data: { action_id: r.action(t, 'drop').id, fields: [] } }),
      status.INVALID_ARGUMENT,
      /default-only/,
    );
    expect(await c.read(PROGRAM, { table_id: t.id })).toEqual([]);
  });

  it('enforces referential integrity between members, groups and node_selector', async () => {
    const ap = T('action_selector_ap');
    const sel = T('action_selector');
    const ns = T('node_selector');
    await expectUpdateCode(w('INSERT', lb.group(1, [0, 1])), status.INVALID_ARGUMENT, /member 0 does not exist/);
    await w('INSERT', lb.member(0, '192.168.12.2'));
    await w('INSERT', lb.member(1, '192.168.12.3'));
    await expectUpdateCode(w('INSERT', lb.vip('192.168.12.10', { group: 1 })), status.NOT_FOUND, /group 1 does not exist/);
    await expectUpdateCode(w('INSERT', lb.vip('192.168.12.10', { member: 7 })), status.NOT_FOUND, /member 7 does not exist/);
    await w('INSERT', lb.group(1, [0, 1]));
    await w('INSERT', lb.vip('192.168.12.10', { group: 1 }));

    const memberKey = (id: number) => ({ table_id: ap.id, ...lb.exact(ap, '$ACTION_MEMBER_ID', uintBytes(id, 4)) });
    const groupKey = { table_id: sel.id, ...lb.exact(sel, '$SELECTOR_GROUP_ID', uintBytes(1, 4)) };
    await expectUpdateCode(w('DELETE', memberKey(1)), status.ALREADY_EXISTS, /still referenced by .*action_selector/);
    await expectUpdateCode(w('DELETE', groupKey), status.ALREADY_EXISTS, /still referenced by .*node_selector/);
    await expectUpdateCode(w('DELETE', { table_id: ap.id }), status.ALREADY_EXISTS);
    expect((await c.read(PROGRAM, { table_id: ap.id })).length).toBe(2);

    // Migration: re-point a member; deactivate one; the group keeps its members.
    await w('MODIFY', lb.member(0, '192.168.12.4'));
    await w('MODIFY', lb.group(1, [0, 1], [true, false]));
    const [g] = await c.read(PROGRAM, { ...groupKey });
    const byName = (n: string) => g.data.fields.find((f: any) => f.field_id === r.dataId(sel, n));
    expect(byName('$ACTION_MEMBER_ID').int_arr_val.val).toEqual([0, 1]);
    expect(byName('$ACTION_MEMBER_STATUS').bool_arr_val.val).toEqual([true, false]);
    await expectUpdateCode(w('MODIFY', lb.group(1, [0, 1, 5])), status.INVALID_ARGUMENT, /member 5/);

    // Reverse order succeeds.
    await w('DELETE', { table_id: ns.id });
    await w('DELETE', groupKey);
    await w('DELETE', { table_id: ap.id });
    for (const t of [ap, sel, ns]) expect(await c.read(PROGRAM, { table_id: t.id })).toEqual([]);
  });

  it('keeps $PORT entries and refuses ports the switch does not have', async () => {
    const cfg = await c.getConfig();
    const np = resolver(cfg.non_p4_config.bfruntime_info.toString());
    const t = np.table('$PORT');
    const entry = (port: number, speed: string) => ({
      table_id: t.id,
      key: { fields: [{ field_id: np.keyId(t, '$DEV_PORT'), exact: { value: uintBytes(port, 4) } }] },
      data: {
        fields: [
          { field_id: np.dataId(t, '$SPEED'), str_val: speed },
          { field_id: np.dataId(t, '$FEC'), str_val: 'BF_FEC_TYP_REED_SOLOMON' },
          { field_id: np.dataId(t, '$AUTO_NEGOTIATION'), str_val: 'PM_AN_DEFAULT' },
          { field_id: np.dataId(t, '$PORT_ENABLE'), bool_val: true },
        ],
      },
    });
    await w('INSERT', entry(140, 'BF_SPEED_25G'));
    await expectUpdateCode(w('INSERT', entry(141, 'BF_SPEED_25G')), status.INVALID_ARGUMENT, /dev port 141/);
    await expectUpdateCode(w('INSERT', entry(148, 'BF_SPEED_3G')), status.INVALID_ARGUMENT, /BF_SPEED_3G/);
    const [e] = await c.read(PROGRAM, { table_id: t.id });
    expect(e.data.fields.find((f: any) => f.field_id === np.dataId(t, '$SPEED')).str_val).toBe('BF_SPEED_25G');
    await w('DELETE', { table_id: t.id });
  });

  it('logs every RPC on one line with method, table, key, result and latency', () => {
    const line = model.logs.find((l) =>
      /\[rpc\] Write .*INSERT table=pipe\.SwitchIngress\.forward key=hdr\.ipv4\.dst_addr=192\.168\.12\.2 result=OK latency=[\d.]+ms/.test(
        l,
      ),
    );
    expect(line, model.logs.slice(-20).join('\n')).toBeDefined();
    expect(model.logs.some((l) => /result=ALREADY_EXISTS/.test(l))).toBe(true);
  });
});

describe('model --names plain', () => {
  it('serves table names without the pipe. prefix', async () => {
    const plain = await startModel({ listen: '127.0.0.1:0', names: 'plain', dry: true });
    const c = rawClient(plain.addr, 1);
    try {
      await c.subscribe();
      const names = JSON.parse((await c.getConfig()).config[0].bfruntime_info.toString()).tables.map((t: any) => t.name);
      expect(names).toContain('SwitchIngress.forward');
      expect(names.some((n: string) => n.startsWith('pipe.'))).toBe(false);
    } finally {
      c.close();
      await plain.stop();
    }
  });
});
