// The switch model answers like bf_switchd. Each case is a gRPC call built from the project's
// proto; the expected behaviour is taken from open-p4studio's server (bf-drivers/src/bf_rt/proto/
// bf_rt_server_impl.cpp, .hpp) and Intel's Python client (bfruntime_grpc_client/python/client.py),
// as quoted in each case. Tables only (--dry-dataplane), no root needed.
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
let c: RawClient;
let r: ReturnType<typeof resolver>;
let lb: ReturnType<typeof lbEntries>;
let port: any;

const failure = (p: Promise<unknown>) =>
  p.then(
    () => {
      throw new Error('call should have failed');
    },
    (e) => e,
  );
const entry = (t: any, fields: object[] = []) => ({ table_id: t.id, key: { fields } });
const all = (t: any) => ({ table_id: t.id });
const codes = (err: any) => updateErrors(err)!.map((e) => status[e.canonical_code]);
const portKey = (n: number) => ({ key: { fields: [{ field_id: port.key[0].id, exact: { value: uintBytes(n, 4) } }] } });
const portData = (fields: Record<string, object>) => ({
  fields: Object.entries(fields).map(([n, v]) => ({ field_id: r.dataId(port, n), ...v })),
});

beforeAll(async () => {
  model = await startModel({
    listen: '127.0.0.1:0',
    program: PROGRAM,
    dry: true,
    ports: [
      [140, 'p4cm-x140'],
      [148, 'p4cm-x148'],
    ],
  });
  c = rawClient(model.addr, 3);
  await c.subscribe(0, { enable_port_status_change_notifications: true });
  await c.bind(PROGRAM);
  const cfg = await c.getConfig();
  r = resolver(cfg.config[0].bfruntime_info.toString());
  const nonP4 = resolver(cfg.non_p4_config.bfruntime_info.toString());
  port = nonP4.table('$PORT');
  r.doc.tables.push(port);
  lb = lbEntries(r);
});
afterAll(async () => {
  c?.close();
  await model?.stop();
});

describe('error shape (BfRtServerErrorReporter::get_status, client.py _parse_grpc_error_binary_details)', () => {
  it('a failed single write is UNKNOWN "Write Error Status" with the update\'s Error Any-packed in grpc-status-details-bin', async () => {
    await c.write(PROGRAM, [{ type: 'INSERT', entry: lb.forward('10.1.0.1', 140) }]);
    const err = await failure(c.write(PROGRAM, [{ type: 'INSERT', entry: lb.forward('10.1.0.1', 148) }]));
    expect(status[err.code]).toBe('UNKNOWN');
    expect(err.details).toBe('Write Error Status');
    const [e] = updateErrors(err)!;
    // BF_ALREADY_EXISTS → ALREADY_EXISTS (to_grpc_status); space "" as the reporter sets it.
    expect(status[e.canonical_code]).toBe('ALREADY_EXISTS');
    expect(e.message).toMatch(/forward.*10\.1\.0\.1.*already exists/);
    expect(e.space).toBe('');
  });

  it('a failed batch lists an OK Error for each update that worked, up to the last failed one', async () => {
    const t = r.table('forward');
    const err = await failure(
      c.write(PROGRAM, [
        { type: 'INSERT', entry: lb.forward('10.1.0.2', 140) },
        { type: 'MODIFY', entry: lb.forward('10.1.0.99', 140) }, // BF_OBJECT_NOT_FOUND → NOT_FOUND
        { type: 'INSERT', entry: lb.forward('10.1.0.3', 140) },
        { type: 'INSERT', entry: { ...lb.forward('10.1.0.4', 140), table_id: 999 } }, // table not found → NOT_FOUND
        { type: 'INSERT', entry: lb.forward('10.1.0.5', 140) },
      ]),
    );
    expect(status[err.code]).toBe('UNKNOWN');
    // "If for a certain missing index, there was no error present, then add to details a success"; nothing after the last error.
    expect(codes(err)).toEqual(['OK', 'NOT_FOUND', 'OK', 'NOT_FOUND']);
    // CONTINUE_ON_ERROR (the default): every update that could be applied was.
    const keys = (await c.read(PROGRAM, all(t))).map((e) => [...e.key.fields[0].exact.value].join('.'));
    expect(keys).toEqual(expect.arrayContaining(['10.1.0.2', '10.1.0.3', '10.1.0.5']));
  });

  it('maps BF_ENTRY_REFERENCES_EXIST to ALREADY_EXISTS and a group member that does not exist (BF_INVALID_ARG) to INVALID_ARGUMENT', async () => {
    await c.write(PROGRAM, [
      { type: 'INSERT', entry: lb.member(20, '10.2.0.1') },
      { type: 'INSERT', entry: lb.group(20, [20]) },
    ]);
    const ap = r.table('action_selector_ap');
    expect(
      codes(
        await failure(
          c.write(PROGRAM, [
            {
              type: 'DELETE',
              entry: entry(ap, [{ field_id: r.keyId(ap, '$ACTION_MEMBER_ID'), exact: { value: uintBytes(20, 4) } }]),
            },
          ]),
        ),
      ),
    ).toEqual(['ALREADY_EXISTS']);
    expect(codes(await failure(c.write(PROGRAM, [{ type: 'MODIFY', entry: lb.group(20, [20, 21]) }])))).toEqual([
      'INVALID_ARGUMENT',
    ]);
    // getActionState: an indirect entry to a missing group is BF_OBJECT_NOT_FOUND.
    expect(codes(await failure(c.write(PROGRAM, [{ type: 'INSERT', entry: lb.vip('10.2.0.10', { group: 77 }) }])))).toEqual([
      'NOT_FOUND',
    ]);
  });

  it('a full table is BF_NO_SPACE → RESOURCE_EXHAUSTED (action_selector_ap has ActionProfile(4))', async () => {
    const ap = r.table('action_selector_ap');
    const have = (await c.read(PROGRAM, all(ap))).length;
    const ups = Array.from({ length: ap.size - have }, (_, i) => ({ type: 'INSERT', entry: lb.member(100 + i, '10.4.0.1') }));
    await c.write(PROGRAM, ups);
    expect(codes(await failure(c.write(PROGRAM, [{ type: 'INSERT', entry: lb.member(199, '10.4.0.1') }])))).toEqual([
      'RESOURCE_EXHAUSTED',
    ]);
    await c.write(
      PROGRAM,
      ups.map((u) => ({ type: 'DELETE', entry: { table_id: ap.id, key: u.entry.key } })),
    );
  });

  it('an entry given by handle_id has no key to write_entry: INSERT is "Table key cannot be empty" (BF_INVALID_ARG)', async () => {
    const t = r.table('forward');
    expect(
      codes(
        await failure(
          c.write(PROGRAM, [{ type: 'INSERT', entry: { table_id: t.id, handle_id: 1, data: lb.forward('10.1.0.1', 140).data } }]),
        ),
      ),
    ).toEqual(['INVALID_ARGUMENT']);
  });

  it('ignore_not_found metadata: a DELETE of a missing entry is OK with code NOT_FOUND (write_entry)', async () => {
    const t = r.table('forward');
    const res = await c.write(
      PROGRAM,
      [{ type: 'DELETE', entry: { table_id: t.id, ...lb.exact(t, 'hdr.ipv4.dst_addr', ipBytes('10.9.9.9')) } }],
      'CONTINUE_ON_ERROR',
      { ignore_not_found: '1' },
    );
    expect(res.status).toEqual([expect.objectContaining({ canonical_code: 0, code: status.NOT_FOUND })]);
  });

  it("error_in_resp metadata: every update's status also in WriteResponse.status", async () => {
    const err = await failure(
      c.write(PROGRAM, [{ type: 'INSERT', entry: lb.forward('10.1.0.1', 140) }], 'CONTINUE_ON_ERROR', { error_in_resp: '1' }),
    );
    expect(codes(err)).toEqual(['ALREADY_EXISTS']);
    const ok = await c.write(PROGRAM, [{ type: 'INSERT', entry: lb.forward('10.1.0.6', 140) }], 'CONTINUE_ON_ERROR', {
      error_in_resp: '1',
    });
    expect(ok.status).toEqual([expect.objectContaining({ canonical_code: 0 })]);
  });

  it('INSERT_OR_MODIFY of an existing entry adds Error{canonical_code OK, code ALREADY_EXISTS} "Entry aleady exists, perform MODIFY"', async () => {
    const res = await c.write(PROGRAM, [{ type: 'INSERT_OR_MODIFY', entry: lb.forward('10.1.0.1', 148) }]);
    expect(res.status).toEqual([
      expect.objectContaining({ canonical_code: 0, code: status.ALREADY_EXISTS, message: 'Entry aleady exists, perform MODIFY' }),
    ]);
  });
});

describe('atomicity (BfRuntimeServiceImpl::Write)', () => {
  const snat = () => r.table('client_snat');
  const count = async () => (await c.read(PROGRAM, all(snat()))).length;

  it('CONTINUE_ON_ERROR applies every update that can be applied', async () => {
    const before = await count();
    const err = await failure(
      c.write(
        PROGRAM,
        [
          { type: 'INSERT', entry: lb.snat(5001, '10.3.0.1') },
          { type: 'INSERT', entry: lb.snat(5001, '10.3.0.1') },
          { type: 'INSERT', entry: lb.snat(5002, '10.3.0.1') },
        ],
        'CONTINUE_ON_ERROR',
      ),
    );
    expect(codes(err)).toEqual(['OK', 'ALREADY_EXISTS']);
    expect(await count()).toBe(before + 2);
  });

  it('ROLLBACK_ON_ERROR stops at the first failure (abortTransaction; break) and undoes the earlier updates', async () => {
    const before = await count();
    const err = await failure(
      c.write(
        PROGRAM,
        [
          { type: 'INSERT', entry: lb.snat(5003, '10.3.0.1') },
          { type: 'INSERT', entry: lb.snat(5001, '10.3.0.1') },
          { type: 'INSERT', entry: lb.snat(5004, '10.3.0.1') },
        ],
        'ROLLBACK_ON_ERROR',
      ),
    );
    expect(codes(err)).toEqual(['OK', 'ALREADY_EXISTS']);
    expect(await count()).toBe(before);
    await c.write(
      PROGRAM,
      [
        { type: 'INSERT', entry: lb.snat(5003, '10.3.0.1') },
        { type: 'INSERT', entry: lb.snat(5004, '10.3.0.1') },
      ],
      'ROLLBACK_ON_ERROR',
    );
    expect(await count()).toBe(before + 2);
  });

  it('DATAPLANE_ATOMIC is refused for the whole RPC: check_and_return(BF_NOT_IMPLEMENTED, "DATAPLANE_ATOMIC isn\'t implemented")', async () => {
    const before = await count();
    const err = await failure(c.write(PROGRAM, [{ type: 'INSERT', entry: lb.snat(5005, '10.3.0.1') }], 'DATAPLANE_ATOMIC'));
    expect(status[err.code]).toBe('UNIMPLEMENTED');
    expect(err.details).toMatch(/DATAPLANE_ATOMIC isn't implemented/);
    expect(updateErrors(err)).toBeUndefined();
    expect(await count()).toBe(before);
  });
});

describe('$PORT (BfRtPortCfgTable)', () => {
  it('a MODIFY with only $PORT_ENABLE=false takes the port down and keeps the other fields (tableEntryMod_internal applies the fields given)', async () => {
    await c.write(PROGRAM, [
      {
        type: 'INSERT',
        entry: {
          table_id: port.id,
          ...portKey(140),
          data: portData({
            $SPEED: { str_val: 'BF_SPEED_25G' },
            $FEC: { str_val: 'BF_FEC_TYP_NONE' },
            $PORT_ENABLE: { bool_val: true },
          }),
        },
      },
    ]);
    await c.write(PROGRAM, [
      { type: 'MODIFY', entry: { table_id: port.id, ...portKey(140), data: portData({ $PORT_ENABLE: { bool_val: false } }) } },
    ]);
    const [e] = await c.read(PROGRAM, { table_id: port.id, ...portKey(140) });
    const byId = new Map(e.data.fields.map((f: any) => [f.field_id, f]));
    expect((byId.get(r.dataId(port, '$PORT_ENABLE')) as any).bool_val).toBe(false);
    expect((byId.get(r.dataId(port, '$SPEED')) as any).str_val).toBe('BF_SPEED_25G');
  });

  it('an INSERT without $SPEED or $FEC is BF_INVALID_ARG, whatever the mandatory flags say (tableEntryAdd)', async () => {
    expect(
      codes(
        await failure(
          c.write(PROGRAM, [
            {
              type: 'INSERT',
              entry: { table_id: port.id, ...portKey(148), data: portData({ $SPEED: { str_val: 'BF_SPEED_25G' } }) },
            },
          ]),
        ),
      ),
    ).toEqual(['INVALID_ARGUMENT']);
  });

  it('a read-only field ($PORT_UP) cannot be written', async () => {
    expect(
      codes(
        await failure(
          c.write(PROGRAM, [
            { type: 'MODIFY', entry: { table_id: port.id, ...portKey(140), data: portData({ $PORT_UP: { bool_val: true } }) } },
          ]),
        ),
      ),
    ).toEqual(['INVALID_ARGUMENT']);
  });
});

describe('default entries (write_entry, table_read_default_entry, read_entry)', () => {
  const t = () => r.table('forward');
  const readDefault = async (table: any) =>
    (await c.readEntities(PROGRAM, [{ table_entry: { table_id: table.id, is_default_entry: true } }])).map((x) => x.table_entry);

  it('reads the P4 default (forward: const default_action = drop) with is_default_entry, and appends it to a whole-table read', async () => {
    const [d] = await readDefault(t());
    expect(d.is_default_entry).toBe(true);
    expect(d.data.action_id).toBe(r.action(t(), 'drop').id);
    const ents = await c.readEntities(PROGRAM, [{ table_entry: all(t()) }]);
    expect(ents.at(-1).table_entry.is_default_entry).toBe(true);
    expect(ents.slice(0, -1).every((x) => !x.table_entry.is_default_entry)).toBe(true);
  });

  it('MODIFY sets, DELETE resets; a const default refuses another action (pipe_mgr: "declared as a const default action")', async () => {
    const def = (action: any, fields: object[] = []) => ({
      table_id: t().id,
      is_default_entry: true,
      data: { action_id: action.id, fields },
    });
    await c.write(PROGRAM, [{ type: 'MODIFY', entry: def(r.action(t(), 'drop')) }]);
    const other = r.action(t(), 'set_egress_port');
    expect(
      codes(
        await failure(
          c.write(PROGRAM, [{ type: 'MODIFY', entry: def(other, [{ field_id: other.data[0].id, stream: uintBytes(140, 2) }]) }]),
        ),
      ),
    ).toEqual(['INVALID_ARGUMENT']);
    await c.write(PROGRAM, [{ type: 'DELETE', entry: { table_id: t().id, is_default_entry: true } }]);
    expect((await readDefault(t()))[0].data.action_id).toBe(r.action(t(), 'drop').id);
    // client_snat: const default NoAction.
    expect((await readDefault(r.table('client_snat')))[0].data.action_id).toBe(r.action(r.table('client_snat'), 'NoAction').id);
  });

  it('INSERT of a default entry is BF_NOT_SUPPORTED ("Please use MODIFY instead"); a key is BF_INVALID_ARG; tables without DEFAULT_ENTRY_GET read none', async () => {
    expect(
      codes(
        await failure(
          c.write(PROGRAM, [
            {
              type: 'INSERT',
              entry: { table_id: t().id, is_default_entry: true, data: { action_id: r.action(t(), 'drop').id } },
            },
          ]),
        ),
      ),
    ).toEqual(['UNIMPLEMENTED']);
    expect(
      codes(
        await failure(c.write(PROGRAM, [{ type: 'MODIFY', entry: { ...lb.forward('10.1.0.1', 140), is_default_entry: true } }])),
      ),
    ).toEqual(['INVALID_ARGUMENT']);
    expect(await readDefault(r.table('action_selector_ap'))).toEqual([]);
  });
});

describe('other entities', () => {
  it('table_usage answers the number of entries (read_usage → tableUsageGet)', async () => {
    const t = r.table('client_snat');
    const n = (await c.read(PROGRAM, all(t))).length;
    const [u] = await c.readEntities(PROGRAM, [{ table_usage: { table_id: t.id } }]);
    expect(u.table_usage).toEqual(expect.objectContaining({ table_id: t.id, usage: n }));
    expect(n).toBeGreaterThan(0);
  });

  it('object ids resolve table, action and key names (read_id)', async () => {
    const t = r.table('forward');
    const ids = await c.readEntities(PROGRAM, [
      { object_id: { table_object: { table_name: t.name } } },
      {
        object_id: {
          table_object: { table_name: 'SwitchIngress.forward', action_name: { action: 'SwitchIngress.set_egress_port' } },
        },
      },
      { object_id: { table_object: { table_name: t.name, key_field_name: { field: 'hdr.ipv4.dst_addr' } } } },
    ]);
    expect(ids.map((x) => x.object_id.id)).toEqual([t.id, r.action(t, 'set_egress_port').id, r.keyId(t, 'hdr.ipv4.dst_addr')]);
  });

  it('handles: a key gives its handle (read_handle), a TableEntry by handle_id reads that entry', async () => {
    const t = r.table('forward');
    const [h] = await c.readEntities(PROGRAM, [
      { handle: { table_id: t.id, ...lb.exact(t, 'hdr.ipv4.dst_addr', ipBytes('10.1.0.1')) } },
    ]);
    expect(h.handle.handle_id).toBeGreaterThan(0);
    const [e] = await c.read(PROGRAM, { table_id: t.id, handle_id: h.handle.handle_id });
    expect([...e.key.fields[0].exact.value].join('.')).toBe('10.1.0.1');
  });

  it('attributes: EntryScope on a match table and port_status_notify on $PORT are written and read back', async () => {
    const t = r.table('forward');
    const scope = { gress_scope: { predef: 'ALL' }, pipe_scope: { predef: 'SINGLE' }, prsr_scope: { predef: 'ALL' } };
    await c.writeUpdates(PROGRAM, [
      { type: 'MODIFY', entity: { table_attribute: { table_id: t.id, entry_scope: scope } } },
      { type: 'MODIFY', entity: { table_attribute: { table_id: port.id, port_status_notify: { enable: true } } } },
    ]);
    const got = await c.readEntities(PROGRAM, [
      { table_attribute: { table_id: t.id, entry_scope: {} } },
      { table_attribute: { table_id: port.id, port_status_notify: {} } },
    ]);
    expect(got[0].table_attribute.entry_scope.pipe_scope.predef).toBe('SINGLE');
    expect(got[1].table_attribute.port_status_notify.enable).toBe(true);
  });

  it('port_status_notify needs a Subscribe with enable_port_status_change_notifications (setAttributePortStatusChgNotify: BF_INVALID_ARG)', async () => {
    const m = await startModel({ listen: '127.0.0.1:0', program: PROGRAM, dry: true });
    const other = rawClient(m.addr, 4);
    try {
      await other.subscribe(); // no notifications asked for
      await other.bind(PROGRAM);
      const err = await failure(
        other.writeUpdates(PROGRAM, [
          { type: 'MODIFY', entity: { table_attribute: { table_id: port.id, port_status_notify: { enable: true } } } },
        ]),
      );
      const [e] = updateErrors(err)!;
      expect(status[e.canonical_code]).toBe('INVALID_ARGUMENT');
      expect(e.message).toMatch(/Port status change notifications are not enabled for client 4/);
    } finally {
      other.close();
      await m.stop();
    }
  });

  it('answers a clean UNIMPLEMENTED naming the entity for everything else', async () => {
    const t = r.table('forward');
    const w = (entity: object, type = 'MODIFY') => failure(c.writeUpdates(PROGRAM, [{ type, entity }]));
    const one = async (p: Promise<any>, re: RegExp) => {
      const [e] = updateErrors(await p)!;
      expect(status[e.canonical_code]).toBe('UNIMPLEMENTED');
      expect(e.message).toMatch(re);
    };
    await one(w({ table_usage: { table_id: t.id } }), /Write operation not available on TableUsage/);
    await one(w({ table_operation: { table_id: t.id, table_operations_type: 'SyncCounters' } }), /Operation not supported/);
    for (const a of [
      'idle_table',
      'dyn_key_mask',
      'dyn_hashing',
      'byte_count_adj',
      'intvl_ms',
      'pre_device_config',
      'selector_update_notify',
    ]) {
      await one(w({ table_attribute: { table_id: t.id, [a]: {} } }), new RegExp(`attribute ${a}`));
      await one(
        failure(c.readEntities(PROGRAM, [{ table_attribute: { table_id: t.id, [a]: {} } }])),
        new RegExp(`attribute ${a}`),
      );
    }
    await one(w({ object_id: { table_object: { table_name: t.name } } }), /cannot be written/);
    await one(w({ table_entry: lb.forward('10.1.0.1', 140) }, 'MODIFY_INC'), /MODIFY_INC is not modelled/);
    await one(
      w({
        table_entry: {
          table_id: r.table('node_selector').id,
          is_default_entry: true,
          data: { fields: [{ field_id: r.dataId(r.table('node_selector'), '$SELECTOR_GROUP_ID'), stream: uintBytes(20, 4) }] },
        },
      }),
      /default member or group is not modelled/,
    );
    // Read of a TableOperation: check_and_return(BF_NOT_SUPPORTED, ...) for the whole RPC.
    const err = await failure(c.readEntities(PROGRAM, [{ table_operation: { table_id: t.id } }]));
    expect(status[err.code]).toBe('UNIMPLEMENTED');
    expect(err.details).toMatch(/Read operation not available on TableOperation/);
  });
});
