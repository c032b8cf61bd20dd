// Link emulation (issue 16): the netem settings each key becomes, the keys refused where they make
// no sense, and — as root, on a veth pair in namespaces this test creates — that a rate really
// limits a TCP transfer to what the setting says.
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../lib/config/load.ts';
import { ConfigError } from '../lib/config/values.ts';
import {
  applyCmds,
  linkEnds,
  lossThreshold,
  NETEM_PROBE,
  netemArgs,
  removeCmd,
  shapedEnds,
  showCmd,
  tbfArgs,
} from '../lib/modes/local/shaping.ts';
import { isRoot, warnIfNotRoot } from './helpers/env.ts';
import { inNs, netns, sh, type Netns } from './helpers/netns.ts';
import { projectDir } from './helpers/runner.ts';

const load = (argv: string[], env: Record<string, string> = {}) => loadConfig({ cwd: projectDir, env, argv });
const refusal = (argv: string[], env: Record<string, string> = {}): string => {
  try {
    load(argv, env);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as Error).message;
  }
  return 'accepted';
};

describe('link emulation settings', () => {
  it('rate → tbf (burst holds a GSO packet), delay/jitter → netem, loss → an nftables threshold', () => {
    expect(tbfArgs({ rate: '40mbit', delay: '', jitter: '', loss: '' })).toEqual([
      'rate',
      '40mbit',
      'burst',
      '131072',
      'latency',
      '100ms',
    ]);
    expect(tbfArgs({ rate: '25gbit', delay: '5ms', jitter: '', loss: '' })).toEqual([
      'rate',
      '25gbit',
      'burst',
      '12500000',
      'latency',
      '110ms',
    ]);
    expect(netemArgs({ rate: '', delay: '5ms', jitter: '1ms', loss: '' })).toEqual(['delay', '5ms', '1ms']);
    expect(lossThreshold('0.1%')).toBe(1000);
    expect(lossThreshold('100%')).toBe(1_000_000);
    const cmds = applyCmds({ label: 'x', ns: 'n', ifname: 'v', shape: { rate: '1gbit', delay: '2ms', jitter: '', loss: '1%' } });
    expect(cmds[0]).toBe(
      'nsenter --net=/run/netns/n tc qdisc replace dev v root handle 1: tbf rate 1gbit burst 500000 latency 104ms',
    );
    expect(cmds[1]).toBe('nsenter --net=/run/netns/n tc qdisc replace dev v parent 1:1 handle 10: netem delay 2ms');
    expect(cmds[2]).toMatch(/numgen random mod 1000000 < 10000 drop/);
  });
  it("nothing set: nothing shaped, but every end is known (to clear a killed run's shaping)", () => {
    const c = load([]).config;
    expect(shapedEnds(c)).toEqual([]);
    expect(linkEnds(c).map((e) => `${e.ns}/${e.ifname}`)).toEqual([
      `p4cf-tofino/p4cf-p${c.LAKEWOOD_SW_PORT}`,
      `p4cf-lakewood/${c.LAKEWOOD_NIC}`,
      `p4cf-tofino/p4cf-p${c.LOVELAND_SW_PORT}`,
      `p4cf-loveland/${c.LOVELAND_NIC}`,
      `p4cf-lakewood/${c.LAKEWOOD_DIRECT_IF}`,
      `p4cf-loveland/${c.LOVELAND_DIRECT_IF}`,
    ]);
  });
  it('switch-port keys shape both ends of both server links; direct keys both ends of the direct link', () => {
    const c = load(['--set', 'LINK_DELAY=5ms', '--set', 'DIRECT_LINK_RATE=1gbit']).config;
    const ends = shapedEnds(c);
    expect(ends).toHaveLength(6);
    expect(ends.filter((e) => e.label.startsWith('direct')).every((e) => e.shape.rate === '1gbit' && e.shape.delay === '')).toBe(
      true,
    );
    expect(applyCmds(ends[0])).toEqual([
      `nsenter --net=/run/netns/p4cf-tofino tc qdisc replace dev p4cf-p${c.LAKEWOOD_SW_PORT} root netem delay 5ms`,
    ]);
  });
  it('bad values name the key and what is accepted; jitter needs a delay; hardware refuses every link key', () => {
    expect(refusal(['--set', 'LINK_RATE=fast'])).toBe(
      'LINK_RATE="fast" (from --set): expected empty (unshaped) or a rate with its unit: 25gbit, 1gbit, 100mbit, 500kbit',
    );
    expect(refusal(['--set', 'LINK_LOSS=0.1'])).toMatch(/^LINK_LOSS="0.1" \(from --set\): expected empty or a percentage/);
    expect(refusal(['--set', 'LINK_DELAY=5'])).toMatch(/^LINK_DELAY="5" .*5ms, 200us, 1s/);
    expect(refusal(['--set', 'LINK_JITTER=1ms'])).toMatch(/^LINK_JITTER=1ms \(from --set\) needs LINK_DELAY/);
    const hw = { TESTBED: 'hw', TOFINO_SSH: 'me@sw', LAKEWOOD_SSH: 'me@lw', LOVELAND_SSH: 'me@lv' };
    expect(refusal(['--set', 'DIRECT_LINK_RATE=1gbit'], hw)).toMatch(
      /^DIRECT_LINK_RATE=1gbit \(from --set\): link emulation shapes the local testbed's veths; a hardware testbed's links are real/,
    );
    expect(refusal([], hw)).toBe('accepted');
  });
});

warnIfNotRoot('test/links.test.ts (netem on a veth in test namespaces)');

describe.skipIf(!isRoot)('netem on a real veth', () => {
  let n: Netns;
  const A = 'p4lk-a';
  const B = 'p4lk-b';
  beforeAll(async () => {
    n = netns('p4lk-');
    await n.add(A);
    await n.add(B);
    await n.veth({ ns: A, name: 'p4lk-va', addr: '10.77.0.1/24' }, { ns: B, name: 'p4lk-vb', addr: '10.77.0.2/24' });
  });
  afterAll(async () => {
    await n?.cleanup();
  });

  /** Milliseconds to send `bytes` over TCP from A to B (node on both ends, bounded by a timeout). */
  async function sendMs(bytes: number): Promise<number> {
    const server = spawn('nsenter', [
      `--net=/run/netns/${B}`,
      process.execPath,
      '-e',
      `const s=require('net').createServer(c=>{let n=0;c.on('data',d=>{n+=d.length});c.on('end',()=>{c.end(String(n))})});s.listen(7701,'10.77.0.2',()=>console.log('up'));setTimeout(()=>process.exit(2),30000)`,
    ]);
    await new Promise<void>((res, rej) => {
      server.stdout.once('data', () => res());
      server.once('exit', (c) => rej(new Error(`server exited ${c}`)));
    });
    try {
      const out = await inNs(
        A,
        process.execPath,
        [
          '-e',
          `const t0=process.hrtime.bigint();const c=require('net').connect(7701,'10.77.0.2',()=>{c.end(Buffer.alloc(${bytes}))});let r='';c.on('data',d=>{r+=d});c.on('end',()=>{console.log(r+' '+Number(process.hrtime.bigint()-t0)/1e6)})`,
        ],
        { timeoutMs: 30_000 },
      );
      const [got, ms] = out.trim().split(' ').map(Number);
      expect(got).toBe(bytes);
      return ms;
    } finally {
      server.kill('SIGKILL');
    }
  }

  it('a 40mbit rate makes a 2 MB transfer take about 2e6·8/40e6 = 0.4 s; removing it restores the speed', async () => {
    const bytes = 2_000_000;
    const end = { label: 'test', ns: A, ifname: 'p4lk-va', shape: { rate: '40mbit', delay: '', jitter: '', loss: '' } };
    const unshaped = await sendMs(bytes);
    for (const c of applyCmds(end)) await sh('sh', ['-c', c]);
    expect(await sh('sh', ['-c', showCmd(end)])).toMatch(/qdisc tbf 1: root .*rate 40Mbit/);
    const shaped = await sendMs(bytes);
    // the first burst (128 KiB) leaves at line rate; the rest cannot beat the rate
    const floor = (((bytes - 131072) * 8) / 40e6) * 1000;
    expect(shaped).toBeGreaterThan(floor * 0.95);
    expect(shaped).toBeLessThan(floor * 2 + 300); // and is not far above it, even on a busy machine
    await sh('sh', ['-c', removeCmd(end)]);
    expect(await sh('sh', ['-c', showCmd(end)])).not.toMatch(/tbf/);
    await sh('sh', ['-c', removeCmd(end)]); // absent: still fine
    expect(unshaped).toBeLessThan(floor);
  });

  it('loss: 100% drops everything that arrives, and the table goes with removeCmd', async () => {
    const end = { label: 'test', ns: B, ifname: 'p4lk-vb', shape: { rate: '', delay: '', jitter: '', loss: '100%' } };
    for (const c of applyCmds(end)) await sh('sh', ['-c', c]);
    await expect(inNs(A, 'ping', ['-c', '2', '-W', '1', '-i', '0.2', '10.77.0.2'], { timeoutMs: 10_000 })).rejects.toThrow(
      /exit 1/,
    );
    await sh('sh', ['-c', removeCmd(end)]);
    expect(await inNs(A, 'ping', ['-c', '1', '-W', '2', '10.77.0.2'], { timeoutMs: 10_000 })).toMatch(/1 received/);
  });

  it('delay needs netem: the probe tells whether this kernel has it (the run refuses the delay keys when not)', async () => {
    const has = await sh('sh', ['-c', NETEM_PROBE]).then(
      () => true,
      () => false,
    );
    console.log(
      `[links.test] sch_netem ${has ? 'available' : 'not in this kernel: LINK_DELAY/DIRECT_LINK_DELAY are refused by the testbed phase'}`,
    );
    if (!has) return;
    const end = { label: 'test', ns: A, ifname: 'p4lk-va', shape: { rate: '', delay: '50ms', jitter: '', loss: '' } };
    for (const c of applyCmds(end)) await sh('sh', ['-c', c]);
    const out = await inNs(A, 'ping', ['-c', '3', '-i', '0.2', '10.77.0.2'], { timeoutMs: 10_000 });
    expect(Number(/= [\d.]+\/([\d.]+)\//.exec(out)![1])).toBeGreaterThan(45);
    await sh('sh', ['-c', removeCmd(end)]);
  });
});
