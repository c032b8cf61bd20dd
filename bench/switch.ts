// Benchmark of the switch path the migrations depend on, on the local testbed's switch model:
//  (1) switch update: POST /updateForward until the data plane delivers to the new port, measured
//      by a UDP prober in a client namespace that sees which server namespace answers; 200 moves
//      alternating between ports 140 and 148. Baseline: 32 ms mean on the Tofino testbed
//      (HTTP + 2 gRPC writes, published figure); goal p50 ≤ 5 ms.
//  (2) TCP throughput client → backend through the model (iperf3 -t 5), with the ratio to a
//      direct veth between two namespaces. Baseline: BMv2 1-10 Mbit/s; goal ≥ 1 Gbit/s.
// Root only (namespaces, nftables). Namespaces and links are p4ct-b*, removed at the end.
//   npx tsx bench/switch.ts [--moves N] [--seconds S]
import { spawn } from 'node:child_process';
import { parseControllerConfig } from '../controller/config.ts';
import { mean as statsMean, percentile } from '../lib/analysis/stats.ts';
import { pollUntil } from '../lib/run/poll.ts';
import { startController, type RunningController } from '../controller/server.ts';
import { NAMED_UDP_SERVER, nodeInNs, waitOutput, type NsProcess } from '../controller/testkit.ts';
import { startModel, type ModelProcess } from '../p4/model/raw-client.ts';
import { inNs, iperf, isRoot, netns } from '../test/helpers/netns.ts';

const REF_TOFINO_MS = 32;
const GOAL_P50_MS = 5;
const REF_BMV2_MBPS = [1, 10];
const GOAL_GBPS = 1;

function arg(name: string, dflt: number, min: number, max: number): number {
  const i = process.argv.indexOf(name);
  if (i < 0) return dflt;
  const v = Number(process.argv[i + 1]);
  if (!Number.isInteger(v) || v < min || v > max)
    throw new Error(`${name} must be an integer ${min}-${max}, got ${process.argv[i + 1]}`);
  return v;
}
const MOVES = arg('--moves', 200, 2, 5000);
const SECONDS = arg('--seconds', 5, 1, 60);

if (!isRoot) {
  console.log('bench/switch.ts SKIPPED: needs root (network namespaces and nftables for the switch model data plane)');
  process.exit(0);
}

const P = 'p4ct-';
const NS = { sw: `${P}bsw`, s1: `${P}bs1`, s2: `${P}bs2`, cl: `${P}bcl`, d1: `${P}bd1`, d2: `${P}bd2` };
const MGMT = { root: `${P}bm0`, sw: `${P}bm1`, rootIp: '10.198.72.1', swIp: '10.198.72.2' };
const H2 = '192.168.12.2';
const CLIENT = '192.168.12.100';
const MAC = { h2: '02:42:c0:a8:0c:02', cl: '02:42:c0:a8:0c:64' };

// The prober answers "go NAME" by probing until NAME answers, then prints the monotonic time
// (process.hrtime is CLOCK_MONOTONIC, shared by every process on the machine).
const PROBER = `
const dgram = require('node:dgram');
const [host, port] = process.argv.slice(1);
const s = dgram.createSocket('udp4');
let want = null, seq = 0, timer = null;
const probe = () => { clearTimeout(timer); if (!want) return; s.send(String(++seq), Number(port), host); timer = setTimeout(probe, 2); };
s.on('message', (m) => {
  const name = m.toString().split(':')[0];
  if (want && name === want) { const t = process.hrtime.bigint(); want = null; clearTimeout(timer); console.log('got ' + name + ' ' + t); }
  else probe();
});
let buf = '';
process.stdin.on('data', (d) => { buf += d; let i; while ((i = buf.indexOf('\\n')) >= 0) { const l = buf.slice(0, i); buf = buf.slice(i + 1);
  const m = /^go (\\w+)$/.exec(l); if (m) { want = m[1]; probe(); } } });
s.bind(0, () => console.log('ready'));
`;

// lib/stats (R-7, the definition every report of this project uses); samples are never empty here.
const pct = (xs: number[], p: number) => percentile(xs, p / 100) ?? NaN;
const mean = (xs: number[]) => statsMean(xs) ?? NaN;

const net = netns(P);
let model: ModelProcess | undefined;
let ctl: RunningController | undefined;
const procs: NsProcess[] = [];
let prober: ReturnType<typeof spawn> | undefined;

async function cleanup() {
  if (prober && prober.exitCode === null) prober.kill('SIGTERM');
  for (const p of procs) await p.stop();
  await ctl?.close();
  await model?.stop();
  const errors = await net.cleanup();
  if (errors.length) console.warn(`cleanup: ${errors.join('; ')}`);
}
process.once('SIGINT', () => {
  void cleanup().then(() => process.exit(130));
});

try {
  for (const ns of Object.values(NS)) {
    await net.add(ns);
    await inNs(ns, 'sysctl', ['-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1']);
  }
  await net.rootVeth({ root: MGMT.root, rootAddr: `${MGMT.rootIp}/30`, ns: NS.sw, name: MGMT.sw, addr: `${MGMT.swIp}/30` });
  // Same IP and MAC on both servers, as in a same-IP migration.
  await net.veth({ ns: NS.sw, name: `${P}bp140` }, { ns: NS.s1, name: `${P}b1`, addr: `${H2}/24`, mac: MAC.h2 });
  await net.veth({ ns: NS.sw, name: `${P}bp148` }, { ns: NS.s2, name: `${P}b2`, addr: `${H2}/24`, mac: MAC.h2 });
  await net.veth({ ns: NS.sw, name: `${P}bp152` }, { ns: NS.cl, name: `${P}bc`, addr: `${CLIENT}/24`, mac: MAC.cl });
  await net.veth({ ns: NS.d1, name: `${P}bx1`, addr: '10.198.73.1/30' }, { ns: NS.d2, name: `${P}bx2`, addr: '10.198.73.2/30' });

  model = await startModel({
    listen: `${MGMT.swIp}:50052`,
    netns: NS.sw,
    nftTable: 'p4ct_bench',
    ports: [
      [140, `${P}bp140`],
      [148, `${P}bp148`],
      [152, `${P}bp152`],
    ],
  });
  const ps = (dev_port: number) => ({ dev_port, speed: 'BF_SPEED_25G', fec: 'BF_FEC_TYP_NONE', an: 'PM_AN_DEFAULT' });
  ctl = await startController({
    port: 0,
    log: () => {},
    config: parseControllerConfig({
      addr: `${MGMT.swIp}:50052`,
      load_balancer_ip: '192.168.12.10',
      service_port: 8080,
      port_setup: [140, 148, 152].map(ps),
      nodes: [
        { ipv4: H2, sw_port: 140, dst_mac: MAC.h2, is_lb_node: true },
        { ipv4: CLIENT, sw_port: 152, dst_mac: MAC.cl },
      ],
    }),
  });
  await ctl.ready;

  for (const [ns, name] of [
    [NS.s1, 's1'],
    [NS.s2, 's2'],
  ] as const) {
    const p = nodeInNs(ns, NAMED_UDP_SERVER, [name, '7000']);
    procs.push(p);
    await waitOutput(p, /listening/, 15_000, `UDP server ${name}`);
  }
  prober = spawn('ip', ['netns', 'exec', NS.cl, process.execPath, '-e', PROBER, H2, '7000'], { stdio: ['pipe', 'pipe', 'pipe'] });
  const lines: string[] = [];
  let partial = '';
  prober.stdout!.on('data', (d) => {
    partial += d;
    const parts = partial.split('\n');
    partial = parts.pop()!;
    lines.push(...parts);
  });
  const nextLine = async (re: RegExp, ms: number): Promise<string> => {
    const i = (
      await pollUntil(
        () => {
          const j = lines.findIndex((l) => re.test(l));
          return j >= 0 ? j : undefined;
        },
        ms,
        1,
      )
    ).value;
    if (i !== undefined) return lines.splice(0, i + 1)[i];
    throw new Error(`prober: no ${re} within ${ms} ms`);
  };
  await nextLine(/^ready$/, 15_000);
  // Warm ARP and the path to s1.
  prober.stdin!.write('go s1\n');
  await nextLine(/^got s1 /, 5000);

  const dataMs: number[] = [];
  const apiMs: number[] = [];
  const grpcMs: number[] = [];
  for (let i = 0; i < MOVES; i++) {
    const [port, name] = i % 2 === 0 ? [148, 's2'] : [140, 's1'];
    prober.stdin!.write(`go ${name}\n`);
    const t0 = process.hrtime.bigint();
    const res = await fetch(`${ctl.url}/updateForward`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ ipv4: H2, sw_port: port }),
      signal: AbortSignal.timeout(10_000),
    });
    const t1 = process.hrtime.bigint();
    const body = (await res.json()) as { ms?: number; error?: string };
    if (res.status !== 200) throw new Error(`POST /updateForward ${port} → ${res.status}: ${body.error}`);
    const got = await nextLine(new RegExp(`^got ${name} `), 5000);
    const t2 = BigInt(got.split(' ')[2]);
    apiMs.push(Number(t1 - t0) / 1e6);
    dataMs.push(Math.max(0, Number(t2 - t0)) / 1e6);
    grpcMs.push(body.ms ?? NaN);
  }

  const p50 = pct(dataMs, 50);
  console.log(`switch update through the model (${MOVES} moves of ${H2} between ports 140 and 148):`);
  console.log(
    `  POST → data plane delivers to the new port: p50 ${p50.toFixed(2)} ms, p95 ${pct(dataMs, 95).toFixed(2)} ms, max ${Math.max(...dataMs).toFixed(2)} ms, mean ${mean(dataMs).toFixed(2)} ms`,
  );
  console.log(
    `  POST round trip (HTTP 200):                 p50 ${pct(apiMs, 50).toFixed(2)} ms, p95 ${pct(apiMs, 95).toFixed(2)} ms`,
  );
  console.log(
    `  gRPC Write inside the controller:           p50 ${pct(grpcMs, 50).toFixed(2)} ms, p95 ${pct(grpcMs, 95).toFixed(2)} ms`,
  );
  // The model logs its own handling time of every Write (validation + nft transaction + links).
  const modelMs = [
    ...model.logs.join('\n').matchAll(/\[rpc\] Write client=\d+ MODIFY table=\S*forward .*latency=([\d.]+)ms/g),
  ].map((m) => Number(m[1]));
  if (modelMs.length)
    console.log(
      `  Write handling inside the model:            p50 ${pct(modelMs, 50).toFixed(2)} ms, p95 ${pct(modelMs, 95).toFixed(2)} ms (${modelMs.length} writes)`,
    );
  console.log(
    `  vs Tofino testbed (mean ${REF_TOFINO_MS} ms): p50 is ${(p50 / REF_TOFINO_MS).toFixed(3)} × the reference; goal p50 ≤ ${GOAL_P50_MS} ms: ${p50 <= GOAL_P50_MS ? 'met' : 'NOT met'}`,
  );

  // (2) throughput: back to s1 so iperf3 runs client → s1 through the model.
  const back = await fetch(`${ctl.url}/updateForward`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ ipv4: H2, sw_port: 140 }),
  });
  if (back.status !== 200) throw new Error(`POST /updateForward 140 → ${back.status}`);
  prober.kill('SIGTERM');
  const viaModel = await iperf(NS.s1, NS.cl, H2, SECONDS);
  const direct = await iperf(NS.d2, NS.d1, '10.198.73.2', SECONDS);
  const g = (b: number) => `${(b / 1e9).toFixed(2)} Gbit/s`;
  console.log(`TCP throughput (iperf3 -t ${SECONDS}, one stream):`);
  console.log(`  client → backend through the switch model: ${g(viaModel)}`);
  console.log(`  direct veth between two namespaces:        ${g(direct)}  (model/direct = ${(viaModel / direct).toFixed(3)})`);
  console.log(
    `  vs BMv2 reference ${REF_BMV2_MBPS[0]}-${REF_BMV2_MBPS[1]} Mbit/s: ${(viaModel / 1e6 / REF_BMV2_MBPS[1]).toFixed(0)}× the upper end; goal ≥ ${GOAL_GBPS} Gbit/s: ${viaModel >= GOAL_GBPS * 1e9 ? 'met' : 'NOT met'}`,
  );
} finally {
  await cleanup();
}
