// Port status change notifications as switchd sends them (bf_rt_server_impl.cpp: a client that
// subscribed with enable_port_status_change_notifications and set the $PORT attribute
// port_status_notify gets a StreamMessageResponse.port_status_change_notification
// {table_entry: {$PORT table id, key $DEV_PORT}, port_up} per change of a port it added).
// The model runs in a namespace; the port's veth peer going down is the "cable pulled".
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ModelProcess, type RawClient, rawClient, resolver, startModel, uintBytes } from '../p4/model/raw-client.ts';
import { parseLinkLine } from '../p4/model/port-watch.ts';
import { inNs, isRoot, netns } from './helpers/netns.ts';

describe('ip monitor link lines', () => {
  it('reads the link state: LOWER_UP with state UP is up; NO-CARRIER/LOWERLAYERDOWN, DOWN and Deleted are down', () => {
    expect(
      parseLinkLine(
        '7: p4ps-s1@if6: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue state UP mode DEFAULT group default',
      ),
    ).toEqual({ name: 'p4ps-s1', up: true });
    expect(
      parseLinkLine(
        '7: p4ps-s1@if6: <NO-CARRIER,BROADCAST,MULTICAST,UP,M-DOWN> mtu 1500 qdisc noqueue state LOWERLAYERDOWN mode DEFAULT',
      ),
    ).toEqual({ name: 'p4ps-s1', up: false });
    expect(parseLinkLine('7: p4ps-s1@if6: <BROADCAST,MULTICAST> mtu 1500 qdisc noqueue state DOWN mode DEFAULT')).toEqual({
      name: 'p4ps-s1',
      up: false,
    });
    expect(parseLinkLine('Deleted 7: p4ps-s1@if6: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 state UP')).toEqual({
      name: 'p4ps-s1',
      up: false,
    });
    expect(parseLinkLine('9: dum0: <BROADCAST,NOARP,UP,LOWER_UP> mtu 1500 qdisc noqueue state UNKNOWN')).toEqual({
      name: 'dum0',
      up: true,
    });
    expect(parseLinkLine('    link/ether 02:00:00:00:00:01 brd ff:ff:ff:ff:ff:ff')).toBeUndefined();
  });
});

const P = 'p4ps-';
const PROGRAM = 'tna_load_balancer';
const skip = !isRoot;
if (skip) console.warn('model-portstatus: skipped, needs root for network namespaces');

describe.skipIf(skip)('port status change notifications (namespaces p4ps-*)', () => {
  const nets = netns(P);
  let model: ModelProcess | undefined;
  let c: RawClient;
  let port: any;
  let dataId: (n: string) => number;

  const notes = () =>
    c.streamMessages.filter((m) => m.port_status_change_notification).map((m) => m.port_status_change_notification);
  const waitFor = async (n: number) => {
    for (let i = 0; i < 100 && notes().length < n; i++) await new Promise((r) => setTimeout(r, 50));
    return notes();
  };
  const portUp = async () => {
    const [e] = await c.read(PROGRAM, {
      table_id: port.id,
      key: { fields: [{ field_id: port.key[0].id, exact: { value: uintBytes(1, 4) } }] },
    });
    return e.data.fields.find((f: any) => f.field_id === dataId('$PORT_UP')).bool_val;
  };

  beforeAll(async () => {
    for (const ns of [`${P}sw`, `${P}h`]) await nets.add(ns);
    await nets.rootVeth({ root: `${P}m0`, rootAddr: '10.198.78.1/30', ns: `${P}sw`, name: `${P}m1`, addr: '10.198.78.2/30' });
    await nets.veth({ ns: `${P}sw`, name: `${P}s1` }, { ns: `${P}h`, name: `${P}h1` });
    model = await startModel({
      listen: '10.198.78.2:0',
      program: PROGRAM,
      ports: [[1, `${P}s1`]],
      netns: `${P}sw`,
      nftTable: 'p4ps_lb',
    });
    c = rawClient(model.addr, 9);
    expect((await c.subscribe(0, { enable_port_status_change_notifications: true })).status.code).toBe(0);
    await c.bind(PROGRAM);
    const r = resolver((await c.getConfig()).non_p4_config.bfruntime_info.toString());
    port = r.table('$PORT');
    dataId = (n) => r.dataId(port, n);
    await c.write(PROGRAM, [
      {
        type: 'INSERT',
        entry: {
          table_id: port.id,
          key: { fields: [{ field_id: port.key[0].id, exact: { value: uintBytes(1, 4) } }] },
          data: {
            fields: [
              { field_id: dataId('$SPEED'), str_val: 'BF_SPEED_25G' },
              { field_id: dataId('$FEC'), str_val: 'BF_FEC_TYP_NONE' },
              { field_id: dataId('$PORT_ENABLE'), bool_val: true },
            ],
          },
        },
      },
    ]);
    await c.writeUpdates(PROGRAM, [
      { type: 'MODIFY', entity: { table_attribute: { table_id: port.id, port_status_notify: { enable: true } } } },
    ]);
    for (let i = 0; i < 100 && !(await portUp()); i++) await new Promise((r) => setTimeout(r, 50));
  }, 60_000);
  afterAll(async () => {
    c?.close();
    await model?.stop();
    const errors = await nets.cleanup();
    if (errors.length) console.warn(`cleanup: ${errors.join('; ')}`);
  });

  it("sends port_up=false when the port's link goes down (peer down) and port_up=true when it comes back", async () => {
    expect(await portUp()).toBe(true);
    const before = notes().length;
    await inNs(`${P}h`, 'ip', ['link', 'set', 'dev', `${P}h1`, 'down']);
    const down = (await waitFor(before + 1))[before];
    expect(down).toBeDefined();
    expect(down.port_up).toBe(false);
    expect(down.table_entry.table_id).toBe(port.id);
    expect(down.table_entry.key.fields).toEqual([
      expect.objectContaining({ field_id: port.key[0].id, exact: { value: uintBytes(1, 4) } }),
    ]);
    expect(await portUp()).toBe(false);
    await inNs(`${P}h`, 'ip', ['link', 'set', 'dev', `${P}h1`, 'up']);
    const up = (await waitFor(before + 2))[before + 1];
    expect(up?.port_up).toBe(true);
    expect(await portUp()).toBe(true);
  });

  it('sends port_up=false when $PORT_ENABLE=false takes the port down (a partial $PORT modify)', async () => {
    const before = notes().length;
    await c.write(PROGRAM, [
      {
        type: 'MODIFY',
        entry: {
          table_id: port.id,
          key: { fields: [{ field_id: port.key[0].id, exact: { value: uintBytes(1, 4) } }] },
          data: { fields: [{ field_id: dataId('$PORT_ENABLE'), bool_val: false }] },
        },
      },
    ]);
    const n = (await waitFor(before + 1))[before];
    expect(n?.port_up).toBe(false);
    expect(await portUp()).toBe(false);
  });
});
