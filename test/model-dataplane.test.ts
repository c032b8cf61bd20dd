// Real packets through the switch model: the model runs inside a switch namespace with its
// ports on veths to a client, two backends and a hairpin host group; tables are written with a
// bare gRPC client; TCP traffic between the namespaces shows what the P4 program promises.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import {
  type ModelProcess,
  type RawClient,
  lbEntries,
  rawClient,
  resolver,
  startModel,
  uintBytes,
} from '../p4/model/raw-client.ts';
import { inNs, isRoot, netns, rxPackets } from './helpers/netns.ts';

const P = 'p4md-';
const PROGRAM = 'tna_load_balancer';
const NET = '192.168.77';
const VIP = `${NET}.10`;
const H = {
  client: { ns: `${P}cl`, ip: `${NET}.100`, mac: '02:77:00:00:00:64', port: 1 },
  a: { ns: `${P}a`, ip: `${NET}.2`, mac: '02:77:00:00:00:02', port: 2, name: 'backend-a' },
  b: { ns: `${P}b`, ip: `${NET}.3`, mac: '02:77:00:00:00:03', port: 3, name: 'backend-b' },
  a2: { mac: '02:77:00:00:01:02', port: 5 }, // backend A's second link, for the live move
  h1: { ns: `${P}h1`, ip: `${NET}.41`, mac: '02:77:00:00:00:29', port: 4 },
  h2: { ns: `${P}h2`, ip: `${NET}.42`, mac: '02:77:00:00:00:2a', port: 4, name: 'hairpin-h2' },
};
const SW = `${P}sw`;
const MGMT = { root: '10.198.77.1', sw: '10.198.77.2' };
const SERVICE = 8080; // load-balanced, replies source-rewritten to the VIP
const DIRECT = 9090; // reached by real address; no client_snat

// Tiny TCP server: answers every line with its name. Tiny client: runs flows, prints JSON.
const SERVER_JS = `
const net = require('net'); const [name, ...ports] = process.argv.slice(2);
for (const p of ports) net.createServer((s) => { let b = ''; s.on('data', (d) => { b += d; let i;
  while ((i = b.indexOf('\\n')) >= 0) { b = b.slice(i + 1); s.write(name + '\\n'); } }); s.on('error', () => {}); }).listen(+p, '0.0.0.0');
console.log('listening');`;
const CLIENT_JS = `
const net = require('net'); const [host, port, flows, msgs, gapMs, par] = process.argv.slice(2).map((v, i) => i ? +v : v);
function flow() { return new Promise((resolve) => { const r = { replies: [], error: null, remote: null, lport: null };
  const s = net.connect({ host, port }); const t = setTimeout(() => { r.error = 'timeout'; s.destroy(); resolve(r); }, 4000 + msgs * gapMs);
  let b = '', sent = 0; const send = () => { if (sent < msgs) { sent++; s.write('m' + sent + '\\n'); } };
  s.on('connect', () => { r.remote = s.remoteAddress; r.lport = s.localPort; send(); });
  s.on('data', (d) => { b += d; let i; while ((i = b.indexOf('\\n')) >= 0) { r.replies.push(b.slice(0, i)); b = b.slice(i + 1);
    if (r.replies.length >= msgs) { clearTimeout(t); s.end(); resolve(r); } else setTimeout(send, gapMs); } });
  s.on('error', (e) => { r.error = e.code || e.message; clearTimeout(t); resolve(r); }); }); }
(async () => { const out = []; for (let i = 0; i < flows; i += par) out.push(...await Promise.all(Array.from({ length: Math.min(par, flows - i) }, flow)));
  console.log(JSON.stringify(out)); })();`;

interface Flow {
  replies: string[];
  error: string | null;
  remote: string | null;
  lport: number | null;
}

const skip = !isRoot;
if (skip) console.warn('model-dataplane: skipped, needs root for network namespaces and nftables');

describe.skipIf(skip)('switch model data plane (nftables, namespaces p4md-*)', () => {
  const nets = netns(P);
  const dir = mkdtempSync(join(tmpdir(), 'p4md-'));
  const servers: ChildProcess[] = [];
  let model: ModelProcess | undefined;
  let c: RawClient;

  const runClient = async (
    ns: string,
    host: string,
    port: number,
    flows: number,
    msgs = 2,
    gapMs = 0,
    par = 20,
  ): Promise<Flow[]> =>
    JSON.parse(
      await inNs(
        ns,
        'node',
        [join(dir, 'client.cjs'), host, String(port), String(flows), String(msgs), String(gapMs), String(par)],
        { timeoutMs: 90_000 },
      ),
    );
  const startServer = (ns: string, name: string, ports: number[]) =>
    new Promise<void>((resolve, reject) => {
      const p = spawn('nsenter', [`--net=/run/netns/${ns}`, 'node', join(dir, 'server.cjs'), name, ...ports.map(String)], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      servers.push(p);
      const t = setTimeout(() => reject(new Error(`server ${name} in ${ns} did not start`)), 15_000);
      p.stdout!.once('data', () => {
        clearTimeout(t);
        resolve();
      });
      p.once('exit', (code) => reject(new Error(`server ${name} exited with ${code}`)));
    });

  let lb: ReturnType<typeof lbEntries>;
  const w = (type: string, entry: object) => c.write(PROGRAM, [{ type, entry }]);

  beforeAll(async () => {
    writeFileSync(join(dir, 'server.cjs'), SERVER_JS);
    writeFileSync(join(dir, 'client.cjs'), CLIENT_JS);
    for (const ns of [SW, H.client.ns, H.a.ns, H.b.ns, `${P}hp`, H.h1.ns, H.h2.ns]) await nets.add(ns);
    // Management link so this process can reach the model's gRPC port inside the switch namespace.
    await nets.rootVeth({ root: `${P}mg0`, rootAddr: `${MGMT.root}/30`, ns: SW, name: `${P}mg1`, addr: `${MGMT.sw}/30` });

    const port = (n: number) => `${P}s${n}`;
    await nets.veth({ ns: SW, name: port(1) }, { ns: H.client.ns, name: `${P}c0`, addr: `${H.client.ip}/24`, mac: H.client.mac });
    await nets.veth({ ns: SW, name: port(2) }, { ns: H.a.ns, name: `${P}a0`, addr: `${H.a.ip}/24`, mac: H.a.mac });
    await nets.veth({ ns: SW, name: port(3) }, { ns: H.b.ns, name: `${P}b0`, addr: `${H.b.ip}/24`, mac: H.b.mac });
    await nets.veth({ ns: SW, name: port(4) }, { ns: `${P}hp`, name: `${P}h0` });
    await nets.veth({ ns: SW, name: port(5) }, { ns: H.a.ns, name: `${P}a1`, mac: H.a2.mac });
    await nets.macvlan({
      parentNs: `${P}hp`,
      parent: `${P}h0`,
      ns: H.h1.ns,
      name: `${P}h1`,
      addr: `${H.h1.ip}/24`,
      mac: H.h1.mac,
      mode: 'vepa',
    });
    await nets.macvlan({
      parentNs: `${P}hp`,
      parent: `${P}h0`,
      ns: H.h2.ns,
      name: `${P}h2`,
      addr: `${H.h2.ip}/24`,
      mac: H.h2.mac,
      mode: 'vepa',
    });
    // Backend A answers ARP for the VIP (as the address owner would); the switch rewrites the
    // destination MAC for packets it sends to B, which would drop A's MAC otherwise.
    await inNs(H.a.ns, 'ip', ['addr', 'add', `${VIP}/32`, 'dev', 'lo']);
    // Backend A's second link has no address: accept packets for .2 arriving on it.
    for (const ns of [H.a.ns])
      for (const k of ['all', `${P}a1`]) await inNs(ns, 'sysctl', ['-q', '-w', `net.ipv4.conf.${k}.rp_filter=0`]);

    await startServer(H.a.ns, H.a.name, [SERVICE, DIRECT]);
    await startServer(H.b.ns, H.b.name, [SERVICE]);
    await startServer(H.h2.ns, H.h2.name, [DIRECT]);

    model = await startModel({
      listen: `${MGMT.sw}:0`,
      program: PROGRAM,
      ports: [1, 2, 3, 4, 5].map((n) => [n, port(n)]),
      netns: SW,
    });
    c = rawClient(model.addr, 7);
    expect((await c.subscribe()).status.code).toBe(0);
    await c.bind(PROGRAM);
    lb = lbEntries(resolver((await c.getConfig()).config[0].bfruntime_info.toString()));

    await w('INSERT', lb.member(0, H.a.ip));
    await w('INSERT', lb.member(1, H.b.ip));
    await w('INSERT', lb.group(1, [0, 1], [true, true]));
    await w('INSERT', lb.vip(VIP, { group: 1 }));
    for (const h of [H.client, H.a, H.b]) await w('INSERT', lb.forward(h.ip, h.port, h.mac));
    for (const h of [H.h1, H.h2]) await w('INSERT', lb.forward(h.ip, h.port));
    for (const h of [H.client, H.a, H.b, H.h1, H.h2]) await w('INSERT', lb.arp(h.ip, h.port));
    await w('INSERT', lb.arp(VIP, H.a.port));
    await w('INSERT', lb.snat(SERVICE, VIP));
  }, 120_000);

  afterAll(async () => {
    c?.close();
    await model?.stop();
    for (const s of servers) s.kill('SIGTERM');
    const errors = await nets.cleanup();
    rmSync(dir, { recursive: true, force: true });
    if (errors.length) console.warn(`cleanup: ${errors.join('; ')}`);
  });

  it('resolves ARP across the switch and forwards by destination IP', async () => {
    const [f] = await runClient(H.client.ns, H.a.ip, DIRECT, 1);
    expect(f.error).toBeNull();
    expect(f.replies).toEqual([H.a.name, H.a.name]);
    const neigh = JSON.parse(await inNs(H.client.ns, 'ip', ['-j', 'neigh', 'show', H.a.ip]));
    expect(neigh[0].lladdr).toBe(H.a.mac);
    expect(neigh[0].state).not.toContain('PERMANENT');
  });

  it('balances 200 flows to the VIP over both backends, sticky per flow, replies from the VIP', async () => {
    const flows = await runClient(H.client.ns, VIP, SERVICE, 200, 2);
    const failed = flows.filter((f) => f.error);
    expect(failed.length, JSON.stringify(failed.slice(0, 3))).toBe(0);
    expect(new Set(flows.map((f) => f.lport)).size).toBe(200);
    // connect() to the VIP only completes if the SYN-ACK comes from the VIP with valid checksums.
    for (const f of flows) expect(f.remote).toBe(VIP);
    for (const f of flows) expect(new Set(f.replies).size, `flow ${f.lport}: ${f.replies}`).toBe(1);
    const toA = flows.filter((f) => f.replies[0] === H.a.name).length;
    const toB = flows.filter((f) => f.replies[0] === H.b.name).length;
    expect(toA + toB).toBe(200);
    console.log(`VIP split over 200 flows: ${H.a.name} ${toA}, ${H.b.name} ${toB}`);
    // Reaching B at all needs the MAC rewrite: the client addressed A's MAC (A answers ARP for the VIP).
    expect(toA).toBeGreaterThanOrEqual(60);
    expect(toB).toBeGreaterThanOrEqual(60);
  });

  it('sends every new flow to the remaining member when one is deactivated', async () => {
    await w('MODIFY', lb.group(1, [0, 1], [true, false]));
    try {
      const flows = await runClient(H.client.ns, VIP, SERVICE, 40, 2);
      expect(flows.filter((f) => f.error)).toEqual([]);
      expect(flows.every((f) => f.replies.every((x) => x === H.a.name))).toBe(true);
    } finally {
      await w('MODIFY', lb.group(1, [0, 1], [true, true]));
    }
    const flows = await runClient(H.client.ns, VIP, SERVICE, 40, 2);
    expect(new Set(flows.map((f) => f.replies[0])).size).toBe(2);
  });

  it('hairpins between two hosts behind the same port (macvlan VEPA)', async () => {
    const flows = await runClient(H.h1.ns, H.h2.ip, DIRECT, 5, 2);
    expect(flows.map((f) => f.error)).toEqual([null, null, null, null, null]);
    expect(flows.flatMap((f) => f.replies)).toEqual(Array(10).fill(H.h2.name));
  });

  it('moves a live TCP connection to another port when the forward entry is modified', async () => {
    const before = await rxPackets(H.a.ns, `${P}a1`);
    const live = runClient(H.client.ns, H.a.ip, DIRECT, 1, 40, 50, 1);
    await new Promise((res) => setTimeout(res, 800));
    await w('MODIFY', lb.forward(H.a.ip, H.a2.port, H.a2.mac));
    try {
      const [f] = await live;
      expect(f.error).toBeNull();
      expect(f.replies.length).toBe(40);
      // The later messages of the same connection came in over the second link.
      expect((await rxPackets(H.a.ns, `${P}a1`)) - before).toBeGreaterThanOrEqual(10);
    } finally {
      await w('MODIFY', lb.forward(H.a.ip, H.a.port, H.a.mac));
    }
  });

  it('drops IPv4 packets with TTL 0 and forwards TTL 1', async () => {
    const rule = (ttl: number) =>
      `table ip p4md_ttl {}\ndelete table ip p4md_ttl\ntable ip p4md_ttl {\n chain out {\n  type filter hook output priority 0;\n  ip daddr ${H.a.ip} tcp dport ${DIRECT} ip ttl set ${ttl}\n }\n}\n`;
    const counter = async () => {
      const out = await inNs(SW, 'nft', ['-j', 'list', 'counter', 'netdev', 'p4cf_lb', 'ttl_drops']);
      return Number(JSON.parse(out).nftables.find((x: any) => x.counter)?.counter.packets);
    };
    try {
      await inNs(H.client.ns, 'nft', ['-f', '-'], { input: rule(0) });
      const before = await counter();
      const [dead] = await runClient(H.client.ns, H.a.ip, DIRECT, 1, 1);
      expect(dead.error).toBe('timeout');
      expect((await counter()) - before).toBeGreaterThanOrEqual(1);
      await inNs(H.client.ns, 'nft', ['-f', '-'], { input: rule(1) });
      const [ok] = await runClient(H.client.ns, H.a.ip, DIRECT, 1, 1);
      expect(ok.error).toBeNull();
    } finally {
      await inNs(H.client.ns, 'nft', ['delete', 'table', 'ip', 'p4md_ttl']).catch(() => undefined);
    }
  });

  it('sets the port link down and up through $PORT', async () => {
    const np = resolver((await c.getConfig()).non_p4_config.bfruntime_info.toString());
    const t = np.table('$PORT');
    const entry = (enable: boolean) => ({
      table_id: t.id,
      key: { fields: [{ field_id: np.keyId(t, '$DEV_PORT'), exact: { value: uintBytes(H.b.port, 4) } }] },
      data: {
        fields: [
          { field_id: np.dataId(t, '$SPEED'), str_val: 'BF_SPEED_25G' },
          { field_id: np.dataId(t, '$FEC'), str_val: 'BF_FEC_TYP_NONE' },
          { field_id: np.dataId(t, '$PORT_ENABLE'), bool_val: enable },
        ],
      },
    });
    const isUp = async () =>
      JSON.parse(await inNs(SW, 'ip', ['-j', 'link', 'show', 'dev', `${P}s${H.b.port}`]))[0].flags.includes('UP');
    await w('INSERT', entry(false));
    expect(await isUp()).toBe(false);
    await w('MODIFY', entry(true));
    expect(await isUp()).toBe(true);
    await w('DELETE', { table_id: t.id });
    expect(await isUp()).toBe(false);
    await inNs(SW, 'ip', ['link', 'set', `${P}s${H.b.port}`, 'up']);
  });
});
