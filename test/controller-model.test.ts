// The controller against the real switch model (child process, real gRPC), control plane only
// (--dry-dataplane: no root needed). Both name styles of bf-rt.json: pipe.SwitchIngress.* and SwitchIngress.*.
import { spawn } from 'node:child_process';
import net from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseControllerConfig } from '../controller/config.ts';
import { startController, type RunningController } from '../controller/server.ts';
import { api, freePort } from '../controller/testkit.ts';
import { waitFor } from '../lib/run/poll.ts';
import { startModel, type ModelProcess } from '../p4/model/raw-client.ts';

const H2 = '192.168.12.2';
const H3 = '192.168.12.3';
const SHIM = '192.168.12.100';
const VIP = '192.168.12.10';

function rawConfig(addr: string, extraPorts: number[] = []) {
  const port = (dev_port: number) => ({ dev_port, speed: 'BF_SPEED_25G', fec: 'BF_FEC_TYP_REED_SOLOMON', an: 'PM_AN_DEFAULT' });
  return {
    id: 0,
    client_id: 0,
    addr,
    load_balancer_ip: VIP,
    service_port: 8080,
    port_setup: [140, 148, ...extraPorts].map(port),
    nodes: [
      { ipv4: H2, sw_port: 140, dst_mac: '02:42:c0:a8:0c:02', is_lb_node: true },
      { ipv4: H3, sw_port: 148, dst_mac: '02:42:c0:a8:0c:03', is_lb_node: true },
      { ipv4: SHIM, sw_port: 140, dst_mac: '02:42:c0:a8:0c:64', is_lb_node: false },
    ],
  };
}

const quiet = () => {};
type Tables = Record<string, { key: Record<string, unknown>; action?: string; data: Record<string, unknown> }[]>;

async function tables(url: string, token?: string): Promise<Tables> {
  const r = await api(url, 'GET', '/tables', undefined, token);
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return r.body.tables;
}

const fwd = (t: Tables, ip: string) => t.forward.find((e) => Object.values(e.key)[0] === ip);
const arp = (t: Tables, ip: string) => t.arp_forward.find((e) => Object.values(e.key)[0] === ip);

describe.each(['pipe', 'plain'] as const)('controller against the switch model (names: %s)', (names) => {
  let model: ModelProcess;
  let ctl: RunningController;
  let addr: string;

  beforeAll(async () => {
    addr = `127.0.0.1:${await freePort()}`;
    model = await startModel({
      listen: addr,
      names,
      dry: true,
      ports: [
        [140, 'p4ct-dry140'],
        [148, 'p4ct-dry148'],
      ],
    });
    ctl = await startController({ config: parseControllerConfig(rawConfig(addr)), port: 0, log: quiet });
    await ctl.ready;
  });
  afterAll(async () => {
    await ctl?.close();
    await model?.stop();
  });

  it('programs every table at startup, in the table names of this switch', async () => {
    const t = await tables(ctl.url);
    const prefix = names === 'pipe' ? 'pipe.' : '';
    const raw = await ctl.client.read('forward');
    expect(raw[0].table).toBe(`${prefix}SwitchIngress.forward`);
    expect(t.action_selector_ap.map((e) => [e.key.$ACTION_MEMBER_ID, e.data.new_dst])).toEqual([
      [0, H2],
      [1, H3],
    ]);
    expect(t.action_selector).toHaveLength(1);
    expect(t.action_selector[0].data).toMatchObject({
      $MAX_GROUP_SIZE: 4,
      $ACTION_MEMBER_ID: [0, 1],
      $ACTION_MEMBER_STATUS: [true, true],
    });
    expect(t.node_selector.map((e) => [e.key['hdr.ipv4.dst_addr'], e.data.$SELECTOR_GROUP_ID])).toEqual([[VIP, 1]]);
    expect(t.forward).toHaveLength(3);
    expect(fwd(t, H2)).toMatchObject({
      action: expect.stringMatching(/set_egress_port_with_mac$/),
      data: { port: 140, dst_mac: '02:42:c0:a8:0c:02' },
    });
    expect(fwd(t, H3)?.data).toEqual({ port: 148, dst_mac: '02:42:c0:a8:0c:03' });
    expect(fwd(t, SHIM)?.data.port).toBe(140);
    expect([H2, H3, SHIM].map((ip) => arp(t, ip)?.data.port)).toEqual([140, 148, 140]);
    expect(t.client_snat.map((e) => [e.key['hdr.tcp.src_port'], e.data.new_src])).toEqual([[8080, VIP]]);
    expect(t.$PORT.map((e) => [e.key.$DEV_PORT, e.data.$SPEED, e.data.$PORT_ENABLE])).toEqual([
      [140, 'BF_SPEED_25G', true],
      [148, 'BF_SPEED_25G', true],
    ]);
    const h = await api(ctl.url, 'GET', '/health');
    expect(h.status).toBe(200);
    expect(h.body).toMatchObject({ connected: true, bound: true, programmed: true, program: 'tna_load_balancer' });
  });

  it('/updateForward moves forward and arp_forward of one IP to the new port', async () => {
    const r = await api(ctl.url, 'POST', '/updateForward', { ipv4: H2, sw_port: 148 });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body).toMatchObject({ ok: true, ipv4: H2, sw_port: 148, writes: 2 });
    let t = await tables(ctl.url);
    expect(fwd(t, H2)?.data).toEqual({ port: 148, dst_mac: '02:42:c0:a8:0c:02' }); // MAC kept when not given
    expect(arp(t, H2)?.data.port).toBe(148);
    expect(fwd(t, SHIM)?.data.port).toBe(140); // others untouched
    const back = await api(ctl.url, 'POST', '/updateForward', { ipv4: H2, sw_port: 140, dst_mac: '02:42:C0:A8:0C:22' });
    expect(back.status).toBe(200);
    t = await tables(ctl.url);
    expect(fwd(t, H2)?.data).toEqual({ port: 140, dst_mac: '02:42:c0:a8:0c:22' });
  });

  it('/migrateNode re-targets the member to a node the switch reaches; back again changes only the member', async () => {
    // 192.168.12.50 has no forward entry yet: re-targeting a member there would black-hole it.
    const refused = await api(ctl.url, 'POST', '/migrateNode', { old_ipv4: H2, new_ipv4: '192.168.12.50' });
    expect(refused.status, JSON.stringify(refused.body)).toBe(404);
    expect(refused.body.error).toMatch(/new_ipv4 192.168.12.50 is not a known node/);
    expect((await api(ctl.url, 'POST', '/addForward', { dst_addr: '192.168.12.50', port: 140 })).status).toBe(200);
    const r = await api(ctl.url, 'POST', '/migrateNode', { old_ipv4: H2, new_ipv4: '192.168.12.50' });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body).toMatchObject({ member_id: 0, writes: 1 });
    let t = await tables(ctl.url);
    expect(t.action_selector_ap.find((e) => e.key.$ACTION_MEMBER_ID === 0)?.data.new_dst).toBe('192.168.12.50');
    const back = await api(ctl.url, 'POST', '/migrateNode', { old_ipv4: '192.168.12.50', new_ipv4: H2 });
    expect(back.status).toBe(200);
    expect(back.body.writes).toBe(1);
    t = await tables(ctl.url);
    expect(t.action_selector_ap.find((e) => e.key.$ACTION_MEMBER_ID === 0)?.data.new_dst).toBe(H2);
  });

  it('/addForward adds forward + arp entries; a second add of the same IP is a 409', async () => {
    const r = await api(ctl.url, 'POST', '/addForward', { dst_addr: '192.168.12.77', port: 148 });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    const t = await tables(ctl.url);
    expect(fwd(t, '192.168.12.77')).toMatchObject({ action: expect.stringMatching(/\.set_egress_port$/), data: { port: 148 } });
    expect(arp(t, '192.168.12.77')?.data.port).toBe(148);
    const again = await api(ctl.url, 'POST', '/addForward', { dst_addr: '192.168.12.77', port: 140 });
    expect(again.status).toBe(409);
    expect(again.body.error).toMatch(/dst_addr 192.168.12.77/);
  });

  it('/setMemberStatus deactivates and reactivates a member in the selector group', async () => {
    const r = await api(ctl.url, 'POST', '/setMemberStatus', { ipv4: H3, active: false });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect((await tables(ctl.url)).action_selector[0].data.$ACTION_MEMBER_STATUS).toEqual([true, false]);
    expect((await api(ctl.url, 'POST', '/setMemberStatus', { ipv4: H3, active: true })).status).toBe(200);
    expect((await tables(ctl.url)).action_selector[0].data.$ACTION_MEMBER_STATUS).toEqual([true, true]);
  });

  it('bad requests get a 4xx naming the field and change no table', async () => {
    const before = await tables(ctl.url);
    const cases: [string, unknown, number, RegExp][] = [
      ['/updateForward', { sw_port: 148 }, 400, /missing field ipv4/],
      ['/updateForward', { ipv4: '192.168.12', sw_port: 148 }, 400, /field ipv4 must be an IPv4 address/],
      ['/updateForward', { ipv4: H2, sw_port: 512 }, 400, /field sw_port must be a switch dev port 0..511, got 512/],
      ['/updateForward', { ipv4: H2, sw_port: 'abc' }, 400, /field sw_port/],
      ['/updateForward', { ipv4: H2, sw_port: 148, dst_mac: '02:42:c0:a8:0c' }, 400, /field dst_mac must be a MAC/],
      ['/updateForward', { ipv4: '10.9.9.9', sw_port: 148 }, 404, /ipv4 10.9.9.9 is not a known node/],
      ['/migrateNode', { old_ipv4: H2 }, 400, /missing field new_ipv4/],
      ['/migrateNode', { old_ipv4: SHIM, new_ipv4: '192.168.12.60' }, 404, /old_ipv4 192.168.12.100 is not a load-balanced node/],
      ['/migrateNode', { old_ipv4: '10.1.1.1', new_ipv4: '192.168.12.60' }, 404, /old_ipv4 10.1.1.1/],
      ['/migrateNode', { old_ipv4: H2, new_ipv4: H2 }, 400, /new_ipv4 equals old_ipv4/],
      ['/addForward', { dst_addr: '192.168.12.78' }, 400, /missing field port/],
      ['/addForward', { dst_addr: '192.168.12.256', port: 1 }, 400, /field dst_addr must be an IPv4/],
      ['/setMemberStatus', { ipv4: H2, active: 'no' }, 400, /field active must be true or false/],
      ['/setMemberStatus', { ipv4: SHIM, active: false }, 404, /ipv4 192.168.12.100 is not a load-balanced node/],
      ['/updateForward', [H2, 148], 400, /must be a JSON object/],
      // refused since the fault-injection pass (issue 12 item 7); each used to be accepted
      [
        '/updateForward',
        { ipv4: H2, sw_port: '148' },
        400,
        /field sw_port must be a switch dev port 0..511, got "148" \(a JSON integer is expected\)/,
      ],
      ['/updateForward', { ipv4: H2, sw_port: 148, dst_mac: null }, 400, /field dst_mac must be a MAC address .*got null/],
      [
        '/addForward',
        { dst_addr: '0.0.0.0', port: 148 },
        400,
        /field dst_addr must be a unicast host address, got 0.0.0.0 \(the unspecified address\)/,
      ],
      ['/addForward', { dst_addr: '255.255.255.255', port: 148 }, 400, /got 255.255.255.255 \(the broadcast address\)/],
      ['/addForward', { dst_addr: '224.0.0.1', port: 148 }, 400, /multicast/],
      ['/migrateNode', { old_ipv4: H2, new_ipv4: '192.168.12.61' }, 404, /new_ipv4 192.168.12.61 is not a known node/],
    ];
    for (const [path, body, status, re] of cases) {
      const r = await api(ctl.url, 'POST', path, body);
      expect(r.status, `${path} ${JSON.stringify(body)} → ${JSON.stringify(r.body)}`).toBe(status);
      expect(r.body.error, path).toMatch(re);
    }
    const notJson = await api(ctl.url, 'POST', '/updateForward', undefined, undefined, '{"ipv4": ');
    expect(notJson.status).toBe(400);
    expect(notJson.body.error).toMatch(/not valid JSON/);
    expect((await api(ctl.url, 'POST', '/updateForward')).body.error).toMatch(/JSON object/);
    expect((await api(ctl.url, 'GET', '/updateForward')).status).toBe(405);
    expect((await api(ctl.url, 'GET', '/nope')).status).toBe(404);
    expect(await tables(ctl.url)).toEqual(before);
  });

  it('/deleteClientSnat removes the SNAT entry once', async () => {
    const r = await api(ctl.url, 'POST', '/deleteClientSnat');
    expect(r.body).toEqual({ ok: true, deleted: true });
    expect((await tables(ctl.url)).client_snat).toEqual([]);
    expect((await api(ctl.url, 'POST', '/deleteClientSnat')).body).toEqual({ ok: true, deleted: false });
  });

  it('/cleanup empties every table; /reinitialize restores the config state', async () => {
    expect((await api(ctl.url, 'POST', '/cleanup')).status).toBe(200);
    const t = await tables(ctl.url);
    for (const name of ['action_selector_ap', 'action_selector', 'node_selector', 'forward', 'arp_forward', 'client_snat']) {
      expect(t[name], name).toEqual([]);
    }
    const r = await api(ctl.url, 'POST', '/reinitialize');
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    const after = await tables(ctl.url);
    expect(after.forward).toHaveLength(3); // the 192.168.12.77 added earlier is gone
    expect(fwd(after, H2)?.data.port).toBe(140);
    expect(after.client_snat).toHaveLength(1);
    expect(after.node_selector).toHaveLength(1);
  });

  it('/metrics counts requests per endpoint and gRPC writes', async () => {
    const r = await api(ctl.url, 'GET', '/metrics');
    expect(r.status).toBe(200);
    expect(r.body).toMatch(/controller_http_requests_total\{endpoint="\/updateForward",method="POST",status="200"\} 2/);
    expect(r.body).toMatch(/controller_http_request_duration_seconds_count\{endpoint="\/migrateNode"\} [1-9]/);
    expect(r.body).toMatch(/controller_grpc_write_duration_seconds_count\{table="forward",ok="true"\} [1-9]/);
    expect(r.body).toMatch(/controller_switch_connected 1/);
  });
});

async function withController(
  opts: Parameters<typeof startController>[0],
  fn: (ctl: RunningController) => Promise<void>,
): Promise<void> {
  const ctl = await startController(opts);
  try {
    await fn(ctl);
  } finally {
    await ctl.close();
  }
}

describe('controller: switch errors, token, reconnect, CLI', () => {
  let model: ModelProcess;
  let addr: string;
  const tmp = mkdtempSync(join(tmpdir(), 'p4ct-'));

  beforeAll(async () => {
    addr = `127.0.0.1:${await freePort()}`;
    model = await startModel({
      listen: addr,
      dry: true,
      ports: [
        [140, 'p4ct-dry140'],
        [148, 'p4ct-dry148'],
      ],
    });
  });
  afterAll(async () => {
    await model?.stop();
    rmSync(tmp, { recursive: true, force: true });
  });

  it('a switch refusal is a 502 carrying the switch message, and /health says why', async () => {
    // The model knows ports 140 and 148 only: $PORT for 156 is refused like on a switch without it.
    await withController({ config: parseControllerConfig(rawConfig(addr, [156])), port: 0, log: quiet }, async (ctl) => {
      await expect(ctl.ready).rejects.toThrow(/dev port 156 is not a port of this switch/);
      const h = await api(ctl.url, 'GET', '/health');
      expect(h.status).toBe(503);
      expect(h.body.applyError).toMatch(/dev port 156/);
      const r = await api(ctl.url, 'POST', '/reinitialize');
      expect(r.status).toBe(502);
      expect(r.body.error).toMatch(/dev port 156 is not a port of this switch/);
    });
  });

  it('enforces the bearer token (health stays open)', async () => {
    const token = 's3cret-token';
    await withController({ config: parseControllerConfig(rawConfig(addr)), port: 0, token, log: quiet }, async (ctl) => {
      await ctl.ready;
      expect((await api(ctl.url, 'GET', '/health')).status).toBe(200);
      expect((await api(ctl.url, 'GET', '/tables')).status).toBe(401);
      expect((await api(ctl.url, 'POST', '/updateForward', { ipv4: H2, sw_port: 148 }, 'wrong')).status).toBe(401);
      const t = await api(ctl.url, 'GET', '/tables', undefined, token);
      expect(fwd(t.body.tables, H2)?.data.port).toBe(140); // the refused update changed nothing
      expect((await api(ctl.url, 'POST', '/updateForward', { ipv4: H2, sw_port: 148 }, token)).status).toBe(200);
    });
  });

  it('re-binds and re-applies its state by itself after the switch restarts', async () => {
    const logs: string[] = [];
    await withController({ config: parseControllerConfig(rawConfig(addr)), port: 0, log: (l) => logs.push(l) }, async (ctl) => {
      await ctl.ready;
      expect((await api(ctl.url, 'POST', '/updateForward', { ipv4: H2, sw_port: 148 })).status).toBe(200);
      expect((await api(ctl.url, 'POST', '/deleteClientSnat')).status).toBe(200);

      await model.stop('SIGKILL');
      await waitFor(
        'health 503 after the switch died',
        async () => (await api(ctl.url, 'GET', '/health')).status === 503,
        15_000,
      );
      const during = await api(ctl.url, 'POST', '/updateForward', { ipv4: H2, sw_port: 140 });
      expect(during.status).toBe(503);

      model = await startModel({
        listen: addr,
        dry: true,
        ports: [
          [140, 'p4ct-dry140'],
          [148, 'p4ct-dry148'],
        ],
      });
      await waitFor(
        'health 200 after the switch came back',
        async () => (await api(ctl.url, 'GET', '/health')).status === 200,
        30_000,
      );
      const t = await tables(ctl.url);
      // The state after the API calls, not the config's: H2 on 148, SNAT deleted.
      expect(fwd(t, H2)?.data.port).toBe(148);
      expect(t.client_snat).toEqual([]);
      expect(t.action_selector_ap).toHaveLength(2);
      expect(t.node_selector).toHaveLength(1);
      expect(t.$PORT).toHaveLength(2);
      expect(ctl.client.state().reconnects).toBe(1);
      expect((await api(ctl.url, 'GET', '/metrics')).body).toMatch(/controller_switch_reconnects_total 1/);
      expect(logs.some((l) => /session with .* lost/.test(l))).toBe(true);
    });
  });

  it('starts before the switch: 503 until the switch answers, then programs it by itself', async () => {
    const lateAddr = `127.0.0.1:${await freePort()}`;
    let late: ModelProcess | undefined;
    try {
      await withController({ config: parseControllerConfig(rawConfig(lateAddr)), port: 0, log: quiet }, async (ctl) => {
        const h = await api(ctl.url, 'GET', '/health');
        expect(h.status).toBe(503);
        expect(h.body).toMatchObject({ connected: false, bound: false, status: 'switch unreachable' });
        expect((await api(ctl.url, 'GET', '/tables')).status).toBe(503);
        late = await startModel({
          listen: lateAddr,
          dry: true,
          ports: [
            [140, 'p4ct-dry140'],
            [148, 'p4ct-dry148'],
          ],
        });
        await ctl.ready;
        expect((await api(ctl.url, 'GET', '/health')).status).toBe(200);
        expect((await tables(ctl.url)).forward).toHaveLength(3);
      });
    } finally {
      await late?.stop();
    }
  });

  it('after only its channel broke (switch kept the tables) it re-binds without rewriting anything', async () => {
    // A TCP relay between controller and model: killing it cuts the channel, not the switch.
    const relayPort = await freePort();
    const relay = () => {
      const p = spawn('socat', [`TCP-LISTEN:${relayPort},bind=127.0.0.1,reuseaddr,fork`, `TCP:${addr}`], {
        detached: true,
        stdio: 'ignore',
      });
      return p;
    };
    // socat forks one child per connection: stop the relay's whole process group (its own).
    const killRelay = (p: ReturnType<typeof spawn>) => {
      try {
        process.kill(-p.pid!, 'SIGKILL');
      } catch {
        /* gone */
      }
    };
    let r = relay();
    const logs: string[] = [];
    try {
      await waitFor(
        'socat relay listening',
        async () =>
          new Promise<boolean>((res) => {
            const sock = net.connect(relayPort, '127.0.0.1', () => {
              sock.destroy();
              res(true);
            });
            sock.on('error', () => res(false));
          }),
        10_000,
      );
      const cfg = parseControllerConfig(rawConfig(`127.0.0.1:${relayPort}`));
      await withController({ config: cfg, port: 0, log: (l) => logs.push(l) }, async (ctl) => {
        await ctl.ready;
        expect((await api(ctl.url, 'POST', '/updateForward', { ipv4: H2, sw_port: 148 })).status).toBe(200);
        const writesBefore = logs.filter((l) => l.includes('[bfrt] write')).length;
        killRelay(r);
        await waitFor('controller notices the broken channel', async () => ctl.client.state().connected === false, 15_000);
        r = relay();
        await waitFor(
          'reconnected and healthy',
          async () => ctl.client.state().reconnects === 1 && (await api(ctl.url, 'GET', '/health')).status === 200,
          30_000,
        );
        expect(logs.some((l) => /nothing to re-apply/.test(l))).toBe(true);
        expect(logs.filter((l) => l.includes('[bfrt] write')).length).toBe(writesBefore);
        expect(fwd(await tables(ctl.url), H2)?.data.port).toBe(148);
      });
    } finally {
      killRelay(r);
    }
  });

  it('CLI: reads config and token file, serves the API', async () => {
    const cfgFile = join(tmp, 'controller.json');
    writeFileSync(cfgFile, JSON.stringify([{ ...rawConfig('127.0.0.1:1'), name: undefined }]));
    const tokenFile = join(tmp, 'token');
    writeFileSync(tokenFile, 'cli-token\n');
    const port = await freePort();
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        'controller/main.ts',
        '--config',
        cfgFile,
        '--port',
        String(port),
        '--token-file',
        tokenFile,
        '--grpc',
        addr,
        '--arch',
        'tf1',
      ],
      { cwd: join(import.meta.dirname, '..'), stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    child.stderr.on('data', (d) => {
      out += d;
    });
    try {
      const url = `http://127.0.0.1:${port}`;
      await waitFor(
        `CLI controller healthy (${out.slice(-500)})`,
        async () => (await api(url, 'GET', '/health')).status === 200,
        30_000,
      );
      expect((await api(url, 'GET', '/tables')).status).toBe(401);
      const t = await api(url, 'GET', '/tables', undefined, 'cli-token');
      expect(t.status).toBe(200);
      expect(t.body.tables.forward).toHaveLength(3);
      expect(out).toMatch(/\[http\] GET \/tables 401/);
      expect(out).toMatch(/\[bfrt\] write \(forward\/arp\/snat\)/);
    } finally {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    }
    const bad = spawn(process.execPath, ['--import', 'tsx', 'controller/main.ts', '--config', cfgFile, '--arch', 'tf9'], {
      cwd: join(import.meta.dirname, '..'),
    });
    let err = '';
    bad.stderr.on('data', (d) => {
      err += d;
    });
    const code = await new Promise((r) => bad.once('exit', r));
    expect(code).toBe(2);
    expect(err).toMatch(/--arch must be tf1 or tf2, got "tf9"/);
  });
});
