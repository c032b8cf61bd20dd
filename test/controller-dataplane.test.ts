// The controller driving the switch model's real data plane (nftables netdev) between network
// namespaces: ARP across the switch, a live TCP stream moved by /updateForward, VIP connections
// re-targeted by /migrateNode and redistributed by deactivating a member. Root only.
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseControllerConfig } from '../controller/config.ts';
import { startController, type RunningController } from '../controller/server.ts';
import { api, nodeInNs, NAMED_ECHO_SERVER, waitOutput, type NsProcess } from '../controller/testkit.ts';
import { startModel, type ModelProcess } from '../p4/model/raw-client.ts';
import { inNs, isRoot, netns, rxPackets } from './helpers/netns.ts';

const P = 'p4ct-';
const NS = { sw: `${P}dsw`, sv: `${P}dsv`, s3: `${P}ds3`, cl: `${P}dcl` };
const MGMT = { root: `${P}dm0`, sw: `${P}dm1`, rootIp: '10.198.71.1', swIp: '10.198.71.2' };
const H2 = '192.168.12.2';
const H3 = '192.168.12.3';
const CLIENT = '192.168.12.100';
const VIP = '192.168.12.10';
const MAC = { h2: '02:42:c0:a8:0c:02', h3: '02:42:c0:a8:0c:03', cl: '02:42:c0:a8:0c:64' };

const STREAM_CLIENT = `
const net = require('node:net');
const [host, port, dur] = process.argv.slice(1);
const s = net.connect(Number(port), host);
s.setNoDelay(true);
let sent = 0, echoed = 0, bad = 0, buf = '', name = null, err = null;
const report = (code) => { console.log('RESULT ' + JSON.stringify({ name, sent, echoed, bad, err })); process.exit(code); };
s.on('data', (d) => { buf += d; let i; while ((i = buf.indexOf('\\n')) >= 0) { const l = buf.slice(0, i); buf = buf.slice(i + 1);
  if (name === null) { name = l; continue; } if (Number(l) !== echoed) bad++; echoed++; } });
s.on('error', (e) => { err = e.message; });
s.on('close', () => { if (!err) err = 'closed'; });
s.on('connect', () => {
  console.log('connected');
  const t = setInterval(() => { if (!err) { s.write(sent + '\\n'); sent++; } }, 5);
  setTimeout(() => { clearInterval(t); const w = Date.now();
    const fin = () => (echoed >= sent || err || Date.now() - w > 3000 ? report(0) : setTimeout(fin, 20)); fin(); }, Number(dur));
});
setTimeout(() => { err = err || 'timeout'; report(1); }, Number(dur) + 10000);
`;

const VIP_CLIENT = `
const net = require('node:net');
const [host, port, n] = process.argv.slice(1);
(async () => { const names = [];
  for (let i = 0; i < Number(n); i++) names.push(await new Promise((r) => {
    const s = net.connect(Number(port), host); let b = '';
    const t = setTimeout(() => { s.destroy(); r('timeout'); }, 2000);
    s.on('data', (d) => { b += d; const k = b.indexOf('\\n'); if (k >= 0) { clearTimeout(t); s.destroy(); r(b.slice(0, k)); } });
    s.on('error', (e) => { clearTimeout(t); r('error:' + e.message); });
  }));
  console.log('RESULT ' + JSON.stringify(names)); })();
`;

async function runToResult(ns: string, script: string, args: string[]): Promise<any> {
  const p = nodeInNs(ns, script, args);
  try {
    await waitOutput(p, /RESULT /, 30_000, `${ns} client`);
    return JSON.parse(/RESULT (.*)/.exec(p.output())![1]);
  } finally {
    await p.stop();
  }
}

const vipNames = (n = 16) => runToResult(NS.cl, VIP_CLIENT, [VIP, '8080', String(n)]) as Promise<string[]>;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.skipIf(!isRoot)('controller + switch model data plane (namespaces p4ct-d*)', () => {
  const net = netns(P);
  let model: ModelProcess | undefined;
  let ctl: RunningController | undefined;
  const procs: NsProcess[] = [];

  beforeAll(async () => {
    for (const ns of Object.values(NS)) {
      await net.add(ns);
      await inNs(ns, 'sysctl', ['-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1']);
    }
    await net.rootVeth({ root: MGMT.root, rootAddr: `${MGMT.rootIp}/30`, ns: NS.sw, name: MGMT.sw, addr: `${MGMT.swIp}/30` });

    // The server is dual-homed on ports 140 and 148 with the same IP and MAC, so moving its
    // forward entry moves the path of a live TCP connection without breaking it.
    await inNs(NS.sv, 'sysctl', ['-qw', 'net.ipv4.conf.all.rp_filter=0', 'net.ipv4.conf.default.rp_filter=0']);
    await net.veth({ ns: NS.sw, name: `${P}dp140` }, { ns: NS.sv, name: `${P}da`, addr: `${H2}/24`, mac: MAC.h2 });
    await net.veth({ ns: NS.sw, name: `${P}dp148` }, { ns: NS.sv, name: `${P}db`, addr: `${H2}/32`, mac: MAC.h2 });
    await net.veth({ ns: NS.sw, name: `${P}dp156` }, { ns: NS.s3, name: `${P}de`, addr: `${H3}/24`, mac: MAC.h3 });
    await net.veth({ ns: NS.sw, name: `${P}dp152` }, { ns: NS.cl, name: `${P}dc`, addr: `${CLIENT}/24`, mac: MAC.cl });
    // Nobody answers ARP for the VIP (as on the testbed, where the client has a static entry).
    await inNs(NS.cl, 'ip', ['neigh', 'replace', VIP, 'lladdr', '02:42:c0:a8:0c:0a', 'dev', `${P}dc`, 'nud', 'permanent']);

    const port = 50052;
    model = await startModel({
      listen: `${MGMT.swIp}:${port}`,
      netns: NS.sw,
      nftTable: 'p4ct_lb',
      ports: [
        [140, `${P}dp140`],
        [148, `${P}dp148`],
        [152, `${P}dp152`],
        [156, `${P}dp156`],
      ],
    });
    const ps = (dev_port: number) => ({ dev_port, speed: 'BF_SPEED_25G', fec: 'BF_FEC_TYP_NONE', an: 'PM_AN_DEFAULT' });
    ctl = await startController({
      port: 0,
      log: () => {},
      config: parseControllerConfig({
        addr: `${MGMT.swIp}:${port}`,
        load_balancer_ip: VIP,
        service_port: 8080,
        port_setup: [140, 148, 152, 156].map(ps),
        nodes: [
          { ipv4: H2, sw_port: 140, dst_mac: MAC.h2, is_lb_node: true },
          { ipv4: H3, sw_port: 156, dst_mac: MAC.h3, is_lb_node: true },
          { ipv4: CLIENT, sw_port: 152, dst_mac: MAC.cl },
        ],
      }),
    });
    await ctl.ready;

    for (const [ns, name, p] of [
      [NS.sv, 'sv', '9000'],
      [NS.sv, 'sv', '8080'],
      [NS.s3, 's3', '8080'],
    ] as const) {
      const srv = nodeInNs(ns, NAMED_ECHO_SERVER, [name, p]);
      procs.push(srv);
      await waitOutput(srv, /listening/, 15_000, `${name} server on ${p}`);
    }
  });

  afterAll(async () => {
    for (const p of procs) await p.stop();
    await ctl?.close();
    await model?.stop();
    const errors = await net.cleanup();
    if (errors.length) console.warn(`cleanup: ${errors.join('; ')}`);
  });

  it('ARP resolves across the switch and ping reaches the server', async () => {
    await inNs(NS.cl, 'ip', [
      'neigh',
      'flush',
      'dev',
      `${P}dc`,
      'nud',
      'reachable',
      'nud',
      'stale',
      'nud',
      'delay',
      'nud',
      'failed',
      'nud',
      'incomplete',
    ]).catch(() => undefined);
    const out = await inNs(NS.cl, 'ping', ['-c', '3', '-i', '0.2', '-W', '1', H2]);
    expect(out).toMatch(/3 received/);
    const neigh = await inNs(NS.cl, 'ip', ['neigh', 'show', H2]);
    expect(neigh).toContain(MAC.h2);
  });

  it('/updateForward moves a live TCP stream to the other port and the stream survives', async () => {
    const stream = nodeInNs(NS.cl, STREAM_CLIENT, [H2, '9000', '3000']);
    procs.push(stream);
    await waitOutput(stream, /connected/, 10_000, 'stream client');
    await sleep(500);
    const r = await api(ctl!.url, 'POST', '/updateForward', { ipv4: H2, sw_port: 148 });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    // Count from shortly after the switch acknowledged the update.
    await sleep(50);
    const a0 = await rxPackets(NS.sv, `${P}da`);
    const b0 = await rxPackets(NS.sv, `${P}db`);
    await sleep(700);
    const a1 = await rxPackets(NS.sv, `${P}da`);
    const b1 = await rxPackets(NS.sv, `${P}db`);
    // ~140 segments in 700 ms at one per 5 ms, all through port 148; none left on port 140.
    expect(b1 - b0).toBeGreaterThan(60);
    expect(a1 - a0).toBeLessThan(3);
    expect((await api(ctl!.url, 'POST', '/updateForward', { ipv4: H2, sw_port: 140 })).status).toBe(200);
    await sleep(500);
    const a2 = await rxPackets(NS.sv, `${P}da`);
    expect(a2 - a1).toBeGreaterThan(30);
    await waitOutput(stream, /RESULT /, 15_000, 'stream client result');
    const res = JSON.parse(/RESULT (.*)/.exec(stream.output())![1]);
    expect(res.err).toBeNull();
    expect(res.name).toBe('sv');
    expect(res.sent).toBeGreaterThan(300);
    expect(res.echoed).toBe(res.sent);
    expect(res.bad).toBe(0);
  });

  it('VIP connections spread over both members; /migrateNode re-targets a member', async () => {
    const before = await vipNames();
    expect(new Set(before)).toEqual(new Set(['sv', 's3'])); // 16 hashed connections hit both (p(miss) = 2^-15)
    const r = await api(ctl!.url, 'POST', '/migrateNode', { old_ipv4: H2, new_ipv4: H3 });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(new Set(await vipNames())).toEqual(new Set(['s3']));
    expect((await api(ctl!.url, 'POST', '/reinitialize')).status).toBe(200);
    expect(new Set(await vipNames())).toEqual(new Set(['sv', 's3']));
  });

  it('deactivating a member redistributes its connections to the others', async () => {
    expect((await api(ctl!.url, 'POST', '/setMemberStatus', { ipv4: H3, active: false })).status).toBe(200);
    expect(new Set(await vipNames())).toEqual(new Set(['sv']));
    expect((await api(ctl!.url, 'POST', '/setMemberStatus', { ipv4: H3, active: true })).status).toBe(200);
    expect(new Set(await vipNames())).toEqual(new Set(['sv', 's3']));
  });

  it("/cleanup stops forwarding; the nft ruleset is the model's, in the switch namespace only", async () => {
    expect((await api(ctl!.url, 'POST', '/cleanup')).status).toBe(200);
    // ping exits 1 when no reply came back (2 would be another error).
    await expect(inNs(NS.cl, 'ping', ['-c', '2', '-i', '0.2', '-W', '1', H2])).rejects.toThrow(/\(exit 1\)/);
    expect(execFileSync('nft', ['list', 'tables']).toString()).not.toContain('p4ct_lb');
    expect(await inNs(NS.sw, 'nft', ['list', 'tables'])).toContain('p4ct_lb');
    expect((await api(ctl!.url, 'POST', '/reinitialize')).status).toBe(200);
  });
});

if (!isRoot) console.warn('SKIPPED controller data plane tests: need root (network namespaces, nftables)');
